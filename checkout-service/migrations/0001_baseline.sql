-- The baseline every later migration builds on: the schema_migrations table
-- is created by the migrator itself, so this file only anchors version 1.
SELECT 1;
