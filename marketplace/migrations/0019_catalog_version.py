"""The catalog's version: a number every write to the offers, providers or GPU models moves
on, so that a process can tell whether a search answer it keeps is still the answer
(marketplace/selectors/search_answers.py).

A writer's statement takes a shared advisory lock for the rest of its transaction, then
moves the number on; `catalog_version()` reads the number first, then tries the lock
exclusively: when a writer is still uncommitted it answers NULL (nothing may be kept), else
every write numbered up to what it read is committed and visible to the next statement."""

from django.db import migrations

LOCK_KEY = 7_310_412_001  # pg_advisory locks share one key space: an arbitrary fixed key

TABLES = ("marketplace_offer", "marketplace_provider", "marketplace_gpumodel")

FUNCTIONS = f"""
CREATE SEQUENCE catalog_version_seq;

CREATE FUNCTION catalog_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    PERFORM nextval('catalog_version_seq');
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_version() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    version bigint;
BEGIN
    SELECT last_value INTO version FROM catalog_version_seq;
    IF NOT pg_try_advisory_lock({LOCK_KEY}) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_unlock({LOCK_KEY});
    RETURN version;
END $$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_catalog_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_version_bump();
"""
    for table in TABLES
)

REVERSE = "".join(f"DROP TRIGGER {table}_catalog_version ON {table};\n" for table in TABLES) + (
    "DROP FUNCTION catalog_version();\n"
    "DROP FUNCTION catalog_version_bump();\n"
    "DROP SEQUENCE catalog_version_seq;\n"
)


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0018_price_index_rows"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
