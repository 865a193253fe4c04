//! The git builder's use cases: whose key a client holds, where that user may push, and a
//! pushed commit's Dockerfile built on the engine and deployed like an image build.

use super::*;

/// A pushed commit to build and deploy.
#[derive(Debug, Clone, Default)]
pub struct PushInput {
    /// The pushed commit (40 hex digits).
    pub sha: String,
    /// The text of the commit's `Dockerfile`.
    pub dockerfile: String,
    /// The text of the commit's `Procfile`, empty when it has none.
    pub procfile: String,
    /// The build context: a tar archive of the commit.
    pub context: Vec<u8>,
    /// MD5 fingerprint of the key the client authenticated with.
    pub fingerprint: String,
    /// Client address and port, server address and port, as `SSH_CONNECTION` has them.
    pub ssh_connection: String,
    /// The command the client asked for, e.g. `git-receive-pack '/app.git'`.
    pub ssh_original_command: String,
}

/// The process types of a `Procfile` (`type: command` lines; blank lines and `#` comments
/// skipped), checked like a build's `procfile`.
pub fn parse_procfile(text: &str) -> Result<JsonMap, String> {
    let mut map = JsonMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, command)) = line.split_once(':') else {
            return Err(format!("Procfile line {line:?} is not 'type: command'"));
        };
        let command = command.trim();
        if command.is_empty() {
            return Err(format!(
                "Procfile: process type {} has no command",
                name.trim()
            ));
        }
        map.insert(name.trim().to_owned(), Value::String(command.to_owned()));
    }
    deploy::procfile_entries(map).map_err(|e| format!("Procfile: {e}"))
}

/// The images a Dockerfile builds from: every `FROM` image and `COPY --from` image that is
/// not an earlier stage (or `scratch`). References made of variables are refused: the builder
/// passes no build arguments, and what they name could not be checked before the build.
pub fn dockerfile_images(text: &str) -> Result<Vec<String>, String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images: Vec<String> = Vec::new();
    let mut froms = 0;
    for line in text.replace("\\\n", " ").lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next().map(str::to_ascii_uppercase) else {
            continue;
        };
        let args: Vec<&str> = words.filter(|w| !w.starts_with("--platform=")).collect();
        let (image, stage) = match instruction.as_str() {
            "FROM" => {
                froms += 1;
                let image = *args.first().ok_or("FROM names no image")?;
                let stage = match (args.get(1), args.get(2)) {
                    (Some(as_word), Some(stage)) if as_word.eq_ignore_ascii_case("as") => {
                        Some(stage.to_ascii_lowercase())
                    }
                    _ => None,
                };
                (image, stage)
            }
            "COPY" | "ADD" => match args.iter().find_map(|a| a.strip_prefix("--from=")) {
                Some(image) => (image, None),
                None => continue,
            },
            _ => continue,
        };
        if image.contains('$') {
            return Err(format!(
                "{instruction} {image}: the builder passes no build arguments; name the image"
            ));
        }
        let earlier_stage =
            stages.iter().any(|s| s.eq_ignore_ascii_case(image)) || image.parse::<usize>().is_ok();
        if !earlier_stage && image != "scratch" && !images.iter().any(|i| i == image) {
            images.push(image.to_owned());
        }
        stages.extend(stage);
    }
    if froms == 0 {
        return Err("the Dockerfile has no FROM".into());
    }
    Ok(images)
}

impl Platform {
    /// The active user who registered this key data (the base64 field of a public key line),
    /// with the key; `NotFound` for a key nobody registered.
    pub async fn key_owner(&self, data: &str) -> Result<(User, Key), Error> {
        let key = self.store.key_by_data(data).await?;
        let user = self.store.user_by_name(&key.owner).await?;
        if !user.is_active {
            return Err(Error::NotFound);
        }
        Ok((user, key))
    }

    /// The app the user may push to (its owner, a collaborator or an administrator);
    /// `NotFound` for an app the user cannot see.
    pub async fn pushable_app(&self, user: &User, id: &str) -> Result<App, Error> {
        self.visible_app(user, id).await
    }

    /// Builds the pushed commit on the engine (every output line to `output`), calls
    /// `launching` once the image is built, then records the push and deploys the image as a new build of the app, exactly as
    /// `/v1/hooks/build` would (summary "`<user>` deployed `<sha7>`"). A failed build is
    /// `Refused` and records nothing; a refused deploy leaves the running release as it was.
    pub async fn deploy_push(
        &self,
        user: &User,
        id: &str,
        push: PushInput,
        output: &(dyn Fn(&str) + Send + Sync),
        launching: &(dyn Fn() + Send + Sync),
    ) -> Result<(Build, Release), Error> {
        let app = self.pushable_app(user, id).await?;
        let procfile = parse_procfile(&push.procfile).map_err(Error::Refused)?;
        if push.sha.len() != 40 || !push.sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Refused(format!("{:?} is not a commit id", push.sha)));
        }
        for base in dockerfile_images(&push.dockerfile).map_err(Error::Refused)? {
            match self.check_image(user, &base).await {
                Err(Error::Fields(_)) => {
                    return Err(Error::Refused(format!(
                        "The Dockerfile names {base:?}, which is not an image reference"
                    )));
                }
                other => other?,
            }
        }
        let image = match self
            .scheduler
            .build_image(&app.id, push.context, output)
            .await
        {
            Ok(image) => image,
            Err(SchedulerError::Failed(why)) => return Err(Error::Refused(why)),
            Err(e) => return Err(unavailable("could not build the image", &e)),
        };
        launching();
        let input = BuildInput {
            image: image.clone(),
            sha: push.sha.clone(),
            procfile,
            dockerfile: push.dockerfile,
        };
        let record = JsonMap::from_iter([
            (
                "receive_user".to_owned(),
                Value::from(user.username.clone()),
            ),
            ("receive_repo".to_owned(), Value::from(app.id.clone())),
            ("sha".to_owned(), Value::from(push.sha)),
            ("fingerprint".to_owned(), Value::from(push.fingerprint)),
            (
                "ssh_connection".to_owned(),
                Value::from(push.ssh_connection),
            ),
            (
                "ssh_original_command".to_owned(),
                Value::from(push.ssh_original_command),
            ),
        ]);
        let deployed = match self.record_push(&record).await {
            Ok(_) => self.deploy_build(user, &app.id, input).await,
            Err(e) => Err(e),
        };
        if deployed.is_err()
            && let Err(e) = self.scheduler.discard_image(&image).await
        {
            tracing::warn!(app = %app.id, image, error = %e, "an image no release took was left");
        }
        deployed
    }
}

#[cfg(test)]
mod tests {
    use super::{dockerfile_images, parse_procfile};

    #[test]
    fn dockerfiles_name_their_images() {
        let images = |text: &str| dockerfile_images(text);
        assert_eq!(
            images("FROM deis/test-app:latest\nENV A=1\n"),
            Ok(vec!["deis/test-app:latest".to_owned()])
        );
        assert_eq!(
            images(
                "from --platform=linux/amd64 base:1 AS build\nRUN make\nFROM scratch\n\
                 COPY --from=build /a /a\nCOPY --from=other:2 /b /b\nCOPY --from=0 /c /c\n"
            ),
            Ok(vec!["base:1".to_owned(), "other:2".to_owned()])
        );
        assert_eq!(
            images("FROM a AS a\nFROM a\n"),
            Ok(vec!["a".to_owned()]),
            "a stage named like its own base is the image in its own FROM, the stage later"
        );
        assert!(images("ARG B=x\nFROM $B\n").is_err());
        assert!(images("FROM\n").is_err());
        assert!(images("RUN true\n").is_err());
    }

    #[test]
    fn procfiles_become_process_types() {
        let map = parse_procfile("# comment\nweb: sh -c 'echo hi'\n\nworker:  run --fast\n")
            .expect("valid");
        assert_eq!(map.len(), 2);
        assert_eq!(map["web"], "sh -c 'echo hi'");
        assert_eq!(map["worker"], "run --fast");
        assert!(parse_procfile("").expect("empty").is_empty());
        assert!(parse_procfile("web").is_err());
        assert!(parse_procfile("web:").is_err());
        assert!(parse_procfile("run: x").is_err());
        assert!(parse_procfile("we b: x").is_err());
    }
}
