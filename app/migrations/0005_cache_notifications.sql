-- Each worker caches reads (app/cache.py) and forgets what a change touched when the
-- change's NOTIFY arrives. Configurations announce themselves already (0002, 0004); these
-- triggers announce the rest a cached read depends on, in the writing transaction:
-- application names (by-name reads), tokens (authentication), and any TRUNCATE.
-- The channel is the trigger's argument; the payload is empty (NOTIFY folds repeats).
CREATE FUNCTION notify_cache() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], '');
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_notify_cache
    AFTER UPDATE OF name OR DELETE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('application_changed');

-- Not on last_used_at: noting a use changes nothing a cached token holds.
CREATE TRIGGER api_tokens_notify_cache
    AFTER UPDATE OF role, secret_sha256, revoked_at OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('token_changed');

CREATE TRIGGER applications_truncate_notify_cache
    AFTER TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('cache_reset');

CREATE TRIGGER configurations_truncate_notify_cache
    AFTER TRUNCATE ON configurations
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('cache_reset');

CREATE TRIGGER api_tokens_truncate_notify_cache
    AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('cache_reset');
