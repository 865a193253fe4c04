-- The scheduler identity (the `deis.controller` label, release image namespace and network of
-- this installation's containers) is unique per database: a new database gets a random one.
-- A database that already has apps keeps the former default, which its containers carry.
INSERT INTO settings (name, value)
SELECT 'scheduler_identity',
       CASE WHEN EXISTS (SELECT 1 FROM apps) THEN 'deis-controller'
            ELSE 'deis-' || substr(md5(random()::text || clock_timestamp()::text), 1, 12) END;
