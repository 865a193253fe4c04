CREATE INDEX grants_username ON grants (username);
DROP INDEX grants_username_app;
CREATE INDEX containers_app ON containers (app, created);
DROP INDEX containers_app_order;
CREATE INDEX builds_app ON builds (app);
DROP INDEX builds_app_seq;
CREATE INDEX apps_owner ON apps (owner);
DROP INDEX apps_owner_seq;
