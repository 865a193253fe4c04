//! The tables, as diesel sees them; the same on SQLite and PostgreSQL
//! (`migrations/sqlite` and `migrations/postgres` create them).

diesel::table! {
    /// Registered accounts.
    users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        is_superuser -> Bool,
        is_active -> Bool,
        last_login -> Nullable<BigInt>,
        date_joined -> BigInt,
        token_generation -> BigInt,
    }
}

diesel::table! {
    /// Applications.
    apps (seq) {
        seq -> BigInt,
        id -> Text,
        uuid -> Text,
        owner -> Text,
        structure -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Images handed to the platform.
    builds (seq) {
        seq -> BigInt,
        uuid -> Text,
        app -> Text,
        owner -> Text,
        image -> Text,
        sha -> Text,
        procfile -> Text,
        dockerfile -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Environments and limits.
    configs (seq) {
        seq -> BigInt,
        uuid -> Text,
        app -> Text,
        owner -> Text,
        env_values -> Text,
        memory -> Text,
        cpu -> Text,
        tags -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Numbered pairings of a build and a config.
    releases (seq) {
        seq -> BigInt,
        uuid -> Text,
        app -> Text,
        owner -> Text,
        version -> BigInt,
        summary -> Text,
        config_uuid -> Text,
        build_uuid -> Nullable<Text>,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Processes an app should run.
    containers (seq) {
        seq -> BigInt,
        uuid -> Text,
        app -> Text,
        owner -> Text,
        release_version -> BigInt,
        proc_type -> Text,
        num -> BigInt,
        state -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Custom hostnames.
    domains (seq) {
        seq -> BigInt,
        domain -> Text,
        owner -> Text,
        app -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// SSH public keys.
    keys (seq) {
        seq -> BigInt,
        uuid -> Text,
        key_id -> Text,
        owner -> Text,
        public_key -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Pushes the builder received.
    pushes (seq) {
        seq -> BigInt,
        uuid -> Text,
        app -> Text,
        owner -> Text,
        sha -> Text,
        fingerprint -> Text,
        receive_user -> Text,
        receive_repo -> Text,
        ssh_connection -> Text,
        ssh_original_command -> Text,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::table! {
    /// Collaborator grants: `username` may use `app`.
    grants (seq) {
        seq -> BigInt,
        app -> Text,
        username -> Text,
    }
}

diesel::table! {
    /// Platform event lines of an app's log.
    events (seq) {
        seq -> BigInt,
        app -> Text,
        at -> BigInt,
        message -> Text,
    }
}

diesel::table! {
    /// Small named values the controller keeps (the generated signing key).
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    /// Throttled failures per key: the current window's and the previous window's counts.
    throttle (seq) {
        seq -> BigInt,
        throttle_key -> Text,
        window_number -> BigInt,
        current_failures -> BigInt,
        previous_failures -> BigInt,
    }
}

diesel::table! {
    /// TLS certificates (API v1.7); the private key is sealed by the controller.
    certs (seq) {
        seq -> BigInt,
        common_name -> Text,
        owner -> Text,
        chain -> Text,
        sealed_key -> Text,
        expires -> BigInt,
        created -> BigInt,
        updated -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users, apps, builds, configs, releases, containers, domains, keys, pushes, grants, events,
    settings,
);
