-- Audit log of key management (src/audit/store.ts owns every query of this table).
-- One row per event; times are epoch milliseconds; JSON columns hold objects or NULL.
CREATE TABLE audit_events (
  id           TEXT    PRIMARY KEY,  -- aud_ + 24 base62 characters
  at           INTEGER NOT NULL,     -- when the event was recorded, epoch ms
  org_id       TEXT    NOT NULL,
  action       TEXT    NOT NULL,     -- key.created, key.updated, key.rotated, …
  actor_method TEXT    NOT NULL,     -- api_key | jwt | operator | system
  actor_id     TEXT    NOT NULL,     -- key id, Clerk user id, operator name
  key_id       TEXT,                 -- the key acted on (NULL for org-wide events)
  before_json  TEXT,                 -- the key before an edit
  after_json   TEXT,                 -- the key after a create or an edit
  detail_json  TEXT,                 -- event-specific: grace period, new key id, refused scopes
  request_id   TEXT,
  client_ip    TEXT,
  user_agent   TEXT
);

-- Newest first per organisation, and per key; `at` alone for the retention purge.
CREATE INDEX audit_events_org_at ON audit_events (org_id, at DESC, id DESC);
CREATE INDEX audit_events_org_key_at ON audit_events (org_id, key_id, at DESC, id DESC);
CREATE INDEX audit_events_at ON audit_events (at);
