-- Throttled failures (failed logins, wrong builder keys): per key, the failures counted in the
-- current window and in the one before it. Windows are fixed spans numbered from the epoch.
CREATE TABLE throttle (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    throttle_key TEXT NOT NULL,
    window_number BIGINT NOT NULL,
    current_failures BIGINT NOT NULL,
    previous_failures BIGINT NOT NULL,
    CONSTRAINT throttle_key_key UNIQUE (throttle_key)
);
CREATE INDEX throttle_window ON throttle (window_number);

-- Registration makes the very first user an administrator and nobody once an administrator
-- has existed. Databases from before this rule had one as soon as they had a user.
INSERT INTO settings (name, value)
SELECT 'admin_existed', 'true' WHERE EXISTS (SELECT 1 FROM users);
