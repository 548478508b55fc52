-- Each worker keeps the set of live tokens in its read cache and answers an unknown token
-- from it without asking the database. A new token must reach that set at once, so its
-- INSERT announces itself like a revocation does (0005).
CREATE TRIGGER api_tokens_insert_notify_cache
    AFTER INSERT ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('token_changed');
