//! The command line: every command of the Deis v1 client with its colon name
//! (`apps:create`), the bare group names that list (`apps`), and the original shortcuts
//! (`create`, `scale`, `login`, ...).

use clap::{Parser, Subcommand};

use crate::commands::{
    apps, auth, builds, certs, config, domains, keys, limits, perms, ps, releases, tags,
};

/// Text of `deis help`, laid out like the original client's.
const HELP: &str = "\
The Deis command-line client issues API calls to a Deis controller.

Usage: deis <command> [<args>...]

Auth commands:
  register          register a new user with a controller
  login             login to a controller
  logout            logout from the current controller
  auth:whoami       display the current user
  auth:passwd       change the password of the current user (or, admins, --username's)
  auth:cancel       remove the current user account (or, admins, --username's)
  auth:regenerate   regenerate your token (or, admins, --username's or --all)
  completion        print a shell completion script (bash, zsh, fish)

Subcommands, use `deis help [subcommand]` to learn more:
  apps              manage applications used to provide services
  ps                manage processes inside an app container
  config            manage environment variables that define app config
  domains           manage and assign domain names to your applications
  builds            manage builds of an application
  limits            manage resource limits for your application
  tags              manage tags for application containers
  releases          manage releases of an application
  keys              manage ssh keys used for `git push` deployments
  perms             manage permissions for applications
  certs             manage SSL certificates the router serves
  users             list the users of the controller (admins)
  git:remote        add the app's builder remote (for `git push`) to this repository

Shortcut commands, use `deis shortcuts` to see all:
  create            create a new application
  scale             scale processes by type (web=2, worker=1)
  info              view information about the current app
  open              open a URL to the app in a browser
  logs              view aggregated log info for the app
  run               run a command in an ephemeral app container
  destroy           destroy an application
  pull              import an image and deploy it as a new release

Options:
  --json            print JSON instead of the human layout (every read; for scripts)
  -h, --help        print help (`deis <command> --help` for a command)
  -V, --version     print the version

Environment:
  DEIS_PROFILE         use ~/.deis/<profile>.json instead of ~/.deis/client.json
  DEIS_HIDE_PROGRESS   never draw the progress spinner

The app of a command is --app, else the app of the `deis` git remote, else the name
of the current directory. Exit codes: 0 ok, 1 API or network error, 2 usage error.";

/// Group help texts, shown by `deis help <group>` and `deis <group> --help`.
const APPS_HELP: &str = "\
Valid commands for apps:

  apps:create        create a new application
  apps:list          list accessible applications
  apps:info          view info about an application
  apps:open          open the application in a browser
  apps:logs          view aggregated application logs
  apps:run           run a command in an ephemeral app container
  apps:destroy       destroy an application
  apps:transfer      transfer an application to another user

Use `deis help [command]` to learn more.";

const CONFIG_HELP: &str = "\
Valid commands for config:

  config:list        list environment variables for an app
  config:set         set environment variables for an app
  config:unset       unset environment variables for an app
  config:get         print the value of one environment variable
  config:pull        extract environment variables to .env
  config:push        set environment variables from .env

Use `deis help [command]` to learn more.";

const LIMITS_HELP: &str = "\
Valid commands for limits:

  limits:list        list resource limits for an app
  limits:set         set resource limits for an app
  limits:unset       unset resource limits for an app

Use `deis help [command]` to learn more.";

const TAGS_HELP: &str = "\
Valid commands for tags:

  tags:list          list tags for an app
  tags:set           set tags for an app
  tags:unset         unset tags for an app

Use `deis help [command]` to learn more.";

const BUILDS_HELP: &str = "\
Valid commands for builds:

  builds:list        list build history for an application
  builds:create      import an image and deploy it as a new release

Use `deis help [command]` to learn more.";

const RELEASES_HELP: &str = "\
Valid commands for releases:

  releases:list      list an application's release history
  releases:info      print information about a specific release
  releases:rollback  return to a previous release

Use `deis help [command]` to learn more.";

const PS_HELP: &str = "\
Valid commands for processes:

  ps:list            list application processes
  ps:scale           scale processes (e.g. web=4 worker=2)
  ps:restart         restart processes (all, a type, or one: web.2)

Use `deis help [command]` to learn more.";

const DOMAINS_HELP: &str = "\
Valid commands for domains:

  domains:add        bind a domain to an application
  domains:list       list domains bound to an application
  domains:remove     unbind a domain from an application

Use `deis help [command]` to learn more.";

const KEYS_HELP: &str = "\
Valid commands for SSH keys:

  keys:list          list SSH keys for the logged in user
  keys:add           add an SSH key
  keys:remove        remove an SSH key

Use `deis help [command]` to learn more.";

const PERMS_HELP: &str = "\
Valid commands for perms:

  perms:list         list permissions granted on an app
  perms:create       create a new permission for a user
  perms:delete       delete a permission for a user

Use `deis help [command]` to learn more.";

const CERTS_HELP: &str = "\
Valid commands for certs:

  certs:list         list SSL certificates
  certs:add          add an SSL certificate and its key
  certs:info         show one SSL certificate
  certs:remove       remove an SSL certificate

Use `deis help [command]` to learn more.";

const USERS_HELP: &str = "\
Valid commands for users:

  users:list         list the users of the controller (administrators)

Use `deis help [command]` to learn more.";

/// Shortcuts and the commands they stand for, as `deis shortcuts` prints them.
pub const SHORTCUTS: [(&str, &str); 18] = [
    ("create", "apps:create"),
    ("destroy", "apps:destroy"),
    ("info", "apps:info"),
    ("login", "auth:login"),
    ("logout", "auth:logout"),
    ("logs", "apps:logs"),
    ("open", "apps:open"),
    ("passwd", "auth:passwd"),
    ("pull", "builds:create"),
    ("register", "auth:register"),
    ("rollback", "releases:rollback"),
    ("run", "apps:run"),
    ("scale", "ps:scale"),
    ("sharing", "perms:list"),
    ("sharing:list", "perms:list"),
    ("sharing:add", "perms:create"),
    ("sharing:remove", "perms:delete"),
    ("whoami", "auth:whoami"),
];

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "deis",
    version,
    about = "The Deis command-line client.",
    help_template = "{after-help}",
    after_help = HELP,
    arg_required_else_help = true,
    subcommand_value_name = "command"
)]
pub struct Cli {
    /// Print JSON instead of the human layout (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of `completion`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register a new user with a controller (and log in).
    #[command(name = "register", visible_alias = "auth:register")]
    Register(auth::RegisterArgs),
    /// Log in by authenticating against a controller.
    #[command(name = "login", visible_alias = "auth:login")]
    Login(auth::LoginArgs),
    /// Log out from the controller and forget the token.
    #[command(name = "logout", visible_alias = "auth:logout")]
    Logout,
    /// Display the logged-in user and controller.
    #[command(name = "auth:whoami", visible_alias = "whoami")]
    Whoami,
    /// Print a shell completion script: `source <(deis completion bash)`.
    #[command(name = "completion")]
    Completion(CompletionArgs),
    /// Change the password of the logged-in user.
    #[command(name = "auth:passwd", visible_alias = "passwd")]
    Passwd(auth::PasswdArgs),
    /// Cancel and remove the current account, or (administrators) another user's.
    #[command(name = "auth:cancel")]
    Cancel(auth::CancelArgs),
    /// Regenerate your token (or, administrators, a user's or everyone's); old ones stop working.
    #[command(name = "auth:regenerate")]
    Regenerate(auth::RegenerateArgs),

    /// Manage applications (lists them).
    #[command(name = "apps", after_help = APPS_HELP)]
    Apps,
    /// Create a new application.
    #[command(name = "apps:create", visible_alias = "create")]
    AppsCreate(apps::CreateArgs),
    /// List applications visible to the current user.
    #[command(name = "apps:list")]
    AppsList,
    /// Print info about an application.
    #[command(name = "apps:info", visible_alias = "info")]
    AppsInfo(apps::AppArgs),
    /// Destroy an application.
    #[command(name = "apps:destroy", visible_alias = "destroy")]
    AppsDestroy(apps::DestroyArgs),
    /// Add the app's builder remote (`git push` target) to this repository.
    #[command(name = "git:remote")]
    GitRemote(apps::GitRemoteArgs),
    /// Print the most recent log lines of an application.
    #[command(name = "apps:logs", visible_alias = "logs")]
    AppsLogs(apps::LogsArgs),
    /// Run a command in an ephemeral app container; exits with its exit code.
    #[command(name = "apps:run", visible_alias = "run")]
    AppsRun(apps::RunArgs),
    /// Open the application's URL in a browser.
    #[command(name = "apps:open", visible_alias = "open")]
    AppsOpen(apps::AppArgs),
    /// Transfer an application to another user.
    #[command(name = "apps:transfer")]
    AppsTransfer(apps::TransferArgs),

    /// Manage environment variables (lists them).
    #[command(name = "config", after_help = CONFIG_HELP)]
    Config(config::ListArgs),
    /// List environment variables of an application.
    #[command(name = "config:list")]
    ConfigList(config::ListArgs),
    /// Set environment variables of an application (creates a release).
    #[command(name = "config:set")]
    ConfigSet(config::SetArgs),
    /// Unset environment variables of an application (creates a release).
    #[command(name = "config:unset")]
    ConfigUnset(config::UnsetArgs),
    /// Print the value of one environment variable.
    #[command(name = "config:get")]
    ConfigGet(config::GetArgs),
    /// Write an application's environment variables into .env.
    #[command(name = "config:pull")]
    ConfigPull(config::PullArgs),
    /// Set an application's environment variables from .env.
    #[command(name = "config:push")]
    ConfigPush(config::PushArgs),

    /// Manage resource limits (lists them).
    #[command(name = "limits", after_help = LIMITS_HELP)]
    Limits(apps::AppArgs),
    /// List resource limits of an application.
    #[command(name = "limits:list")]
    LimitsList(apps::AppArgs),
    /// Set memory or CPU limits per process type (creates a release).
    #[command(name = "limits:set")]
    LimitsSet(limits::SetArgs),
    /// Unset memory or CPU limits per process type (creates a release).
    #[command(name = "limits:unset")]
    LimitsUnset(limits::UnsetArgs),

    /// Manage container tags (lists them).
    #[command(name = "tags", after_help = TAGS_HELP)]
    Tags(apps::AppArgs),
    /// List tags of an application.
    #[command(name = "tags:list")]
    TagsList(apps::AppArgs),
    /// Set tags of an application (creates a release).
    #[command(name = "tags:set")]
    TagsSet(tags::SetArgs),
    /// Unset tags of an application (creates a release).
    #[command(name = "tags:unset")]
    TagsUnset(tags::UnsetArgs),

    /// Manage builds (lists them).
    #[command(name = "builds", after_help = BUILDS_HELP)]
    Builds(apps::AppArgs),
    /// List the build history of an application.
    #[command(name = "builds:list")]
    BuildsList(apps::AppArgs),
    /// Import a Docker image and deploy it as a new release.
    #[command(name = "builds:create", visible_alias = "pull")]
    BuildsCreate(builds::CreateArgs),

    /// Manage releases (lists them).
    #[command(name = "releases", after_help = RELEASES_HELP)]
    Releases(apps::AppArgs),
    /// List the release history of an application.
    #[command(name = "releases:list")]
    ReleasesList(apps::AppArgs),
    /// Print information about one release.
    #[command(name = "releases:info")]
    ReleasesInfo(releases::InfoArgs),
    /// Roll back to a previous release (by default the one before the latest).
    #[command(name = "releases:rollback", visible_alias = "rollback")]
    ReleasesRollback(releases::RollbackArgs),

    /// Manage processes (lists them).
    #[command(name = "ps", after_help = PS_HELP)]
    Ps(apps::AppArgs),
    /// List the processes of an application.
    #[command(name = "ps:list")]
    PsList(apps::AppArgs),
    /// Scale processes by type, e.g. `deis ps:scale web=2 worker=1`.
    #[command(name = "ps:scale", visible_alias = "scale")]
    PsScale(ps::ScaleArgs),
    /// Restart processes: all, one type (`web`) or one process (`web.2`).
    #[command(name = "ps:restart")]
    PsRestart(ps::RestartArgs),

    /// Manage domains (lists them).
    #[command(name = "domains", after_help = DOMAINS_HELP)]
    Domains(apps::AppArgs),
    /// List domains bound to an application.
    #[command(name = "domains:list")]
    DomainsList(apps::AppArgs),
    /// Bind a domain to an application.
    #[command(name = "domains:add")]
    DomainsAdd(domains::DomainArgs),
    /// Unbind a domain from an application.
    #[command(name = "domains:remove")]
    DomainsRemove(domains::DomainArgs),

    /// Manage SSH keys (lists them).
    #[command(name = "keys", after_help = KEYS_HELP)]
    Keys,
    /// List SSH keys of the logged-in user.
    #[command(name = "keys:list")]
    KeysList,
    /// Add an SSH public key; without a path, offers the keys in ~/.ssh.
    #[command(name = "keys:add")]
    KeysAdd(keys::AddArgs),
    /// Remove an SSH key by its id.
    #[command(name = "keys:remove")]
    KeysRemove(keys::RemoveArgs),

    /// Manage permissions (lists them).
    #[command(name = "perms", visible_alias = "sharing", after_help = PERMS_HELP)]
    Perms(perms::ListArgs),
    /// List the users allowed to use an app, or the administrators (--admin).
    #[command(name = "perms:list", visible_alias = "sharing:list")]
    PermsList(perms::ListArgs),
    /// Let a user use an app, or make a user an administrator (--admin).
    #[command(name = "perms:create", visible_alias = "sharing:add")]
    PermsCreate(perms::UserArgs),
    /// Revoke a user's use of an app, or a user's administrator rights (--admin).
    #[command(name = "perms:delete", visible_alias = "sharing:remove")]
    PermsDelete(perms::UserArgs),

    /// List the users of the controller (administrators).
    #[command(name = "users", after_help = USERS_HELP)]
    Users,
    /// List the users of the controller (administrators).
    #[command(name = "users:list")]
    UsersList,

    /// Manage SSL certificates (lists them).
    #[command(name = "certs", after_help = CERTS_HELP)]
    Certs,
    /// List SSL certificates.
    #[command(name = "certs:list")]
    CertsList,
    /// Add an SSL certificate and its private key, for its common name or the names given.
    #[command(name = "certs:add")]
    CertsAdd(certs::AddArgs),
    /// Show one SSL certificate.
    #[command(name = "certs:info")]
    CertsInfo(certs::NameArgs),
    /// Remove an SSL certificate.
    #[command(name = "certs:remove")]
    CertsRemove(certs::NameArgs),

    /// Show the shortcut commands and what they stand for.
    #[command(name = "shortcuts")]
    Shortcuts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("deis").chain(args.iter().copied()))
    }

    #[test]
    fn the_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn login_takes_the_original_syntax() {
        let cli = parse(&[
            "login",
            "http://deis.example.com",
            "--username=alice",
            "--password=s3cret",
        ])
        .unwrap();
        let Command::Login(a) = cli.command else {
            panic!("not login")
        };
        assert_eq!(a.controller, "http://deis.example.com");
        assert_eq!(a.username.as_deref(), Some("alice"));
        assert_eq!(a.password.as_deref(), Some("s3cret"));
        assert!(matches!(
            parse(&["auth:login", "c"]).unwrap().command,
            Command::Login(_)
        ));
    }

    #[test]
    fn app_flags_take_both_forms() {
        for args in [
            &["config:set", "--app=myapp", "A=1", "B=2"][..],
            &["config:set", "-a", "myapp", "A=1", "B=2"][..],
            &["config:set", "A=1", "B=2", "-a", "myapp"][..],
        ] {
            let Command::ConfigSet(a) = parse(args).unwrap().command else {
                panic!("not config:set")
            };
            assert_eq!(a.app.app.as_deref(), Some("myapp"));
            assert_eq!(a.pairs, ["A=1", "B=2"]);
        }
    }

    #[test]
    fn destroy_takes_confirm() {
        let Command::AppsDestroy(a) = parse(&["destroy", "--app=x", "--confirm=x"])
            .unwrap()
            .command
        else {
            panic!("not destroy")
        };
        assert_eq!(a.app.app.as_deref(), Some("x"));
        assert_eq!(a.confirm.as_deref(), Some("x"));
    }

    #[test]
    fn run_keeps_the_command_and_its_flags() {
        let Command::AppsRun(a) = parse(&["run", "-a", "x", "ls", "-la", "/"])
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert_eq!(a.app.app.as_deref(), Some("x"));
        assert_eq!(a.command, ["ls", "-la", "/"]);
        let Command::AppsRun(a) = parse(&["apps:run", "--", "echo", "--json"])
            .unwrap()
            .command
        else {
            panic!("not run")
        };
        assert_eq!(a.command, ["echo", "--json"]);
    }

    #[test]
    fn limits_take_cpu_or_memory() {
        let Command::LimitsSet(a) = parse(&["limits:set", "--cpu", "web=512"]).unwrap().command
        else {
            panic!("not limits:set")
        };
        assert!(a.cpu);
        assert_eq!(a.pairs, ["web=512"]);
        assert!(parse(&["limits:set", "--cpu", "--memory", "web=1"]).is_err());
        let Command::LimitsUnset(a) = parse(&["limits:unset", "-m", "web"]).unwrap().command else {
            panic!("not limits:unset")
        };
        assert!(!a.cpu);
        assert_eq!(a.types, ["web"]);
    }

    #[test]
    fn bare_groups_list() {
        assert!(matches!(parse(&["apps"]).unwrap().command, Command::Apps));
        assert!(matches!(
            parse(&["config", "--oneline"]).unwrap().command,
            Command::Config(_)
        ));
        assert!(matches!(
            parse(&["ps", "-a", "x"]).unwrap().command,
            Command::Ps(_)
        ));
        assert!(matches!(parse(&["keys"]).unwrap().command, Command::Keys));
        assert!(matches!(
            parse(&["sharing"]).unwrap().command,
            Command::Perms(_)
        ));
    }

    #[test]
    fn json_is_accepted_anywhere() {
        assert!(parse(&["--json", "apps:list"]).unwrap().json);
        assert!(parse(&["releases", "--json", "-a", "x"]).unwrap().json);
    }

    #[test]
    fn v17_commands_take_the_original_syntax() {
        let Command::PsRestart(a) = parse(&["ps:restart", "web.2", "-a", "x"]).unwrap().command
        else {
            panic!("not ps:restart")
        };
        assert_eq!(a.target.as_deref(), Some("web.2"));
        assert_eq!(a.app.app.as_deref(), Some("x"));
        let Command::AppsTransfer(a) = parse(&["apps:transfer", "bob", "--app=x"]).unwrap().command
        else {
            panic!("not apps:transfer")
        };
        assert_eq!(a.username, "bob");
        let Command::Regenerate(a) = parse(&["auth:regenerate", "-u", "bob"]).unwrap().command
        else {
            panic!("not auth:regenerate")
        };
        assert_eq!(a.username.as_deref(), Some("bob"));
        assert!(parse(&["auth:regenerate", "--all", "-u", "bob"]).is_err());
        let Command::CertsAdd(a) =
            parse(&["certs:add", "c.pem", "k.pem", "--common-name=x.example.com"])
                .unwrap()
                .command
        else {
            panic!("not certs:add")
        };
        assert_eq!(a.common_name.as_deref(), Some("x.example.com"));
        let Command::Cancel(a) = parse(&["auth:cancel", "--username=carol", "--yes"])
            .unwrap()
            .command
        else {
            panic!("not auth:cancel")
        };
        assert_eq!(a.username.as_deref(), Some("carol"));
        assert!(matches!(parse(&["users"]).unwrap().command, Command::Users));
        assert!(matches!(parse(&["certs"]).unwrap().command, Command::Certs));
    }

    #[test]
    fn perms_admin_and_app_conflict() {
        assert!(parse(&["perms:create", "bob", "--admin"]).is_ok());
        assert!(parse(&["perms:create", "bob", "--admin", "-a", "x"]).is_err());
    }

    #[test]
    fn usage_errors_are_exit_code_2() {
        for args in [
            &["apps:nope"][..],
            &["config:set"][..],
            &["login"][..],
            &["apps:create", "--bogus"][..],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
        assert_eq!(parse(&["help", "apps:create"]).unwrap_err().exit_code(), 0);
    }

    #[test]
    fn shortcuts_name_real_commands() {
        let cmd = Cli::command();
        for (short, long) in SHORTCUTS {
            for name in [short, long] {
                let found = cmd
                    .get_subcommands()
                    .any(|s| s.get_name() == name || s.get_all_aliases().any(|a| a == name));
                assert!(found, "{name}");
            }
        }
    }
}
