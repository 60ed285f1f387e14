-- Call recording (issue 14): a recorded session names its file, relative to the node's
-- FRONTDESK_RECORDINGS_DIR (`<org id>/<session id>.ogg`). The column is on `sessions`, so
-- the session's row-level security is the recording's: a tenant sees only its own.
ALTER TABLE sessions ADD COLUMN recording_path text
    CHECK (recording_path IS NULL OR recording_path ~ '^[0-9a-f-]{36}/[0-9a-f-]{36}\.ogg$');
