-- Pages with work bounded by the page size: every listing's filter and order in one index, so
-- a page is read from the index in order (the back half of a list, `page=last` included,
-- backwards from its end) and counted from the index alone.
CREATE INDEX apps_owner_seq ON apps (owner, seq);
DROP INDEX apps_owner;
CREATE INDEX builds_app_seq ON builds (app, seq);
DROP INDEX builds_app;
CREATE INDEX containers_app_order ON containers (app, created, seq);
DROP INDEX containers_app;
CREATE INDEX grants_username_app ON grants (username, app);
DROP INDEX grants_username;
