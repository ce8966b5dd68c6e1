-- Coordinator changes that survive restarts, bans, one-time codes, and erasure bookkeeping.

-- A value changed with an admin command (team, rota, overrides, policies, contacts, code word).
-- It wins over the configuration file unless the file's value changed more recently.
CREATE TABLE space_changes (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,               -- JSON
    changed_at REAL NOT NULL,
    changed_by TEXT NOT NULL,
    PRIMARY KEY (space, key)
);

-- When each configuration value was first seen with its current content (a hash, not the value).
CREATE TABLE file_values (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    digest TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (space, key)
);

-- Event bans. Names are matched through keyed hashes; the readable label is sealed.
CREATE TABLE bans (
    id INTEGER PRIMARY KEY,
    space TEXT NOT NULL,
    key_id INTEGER REFERENCES keys (id),
    sealed BLOB,                       -- label and reason
    tokens TEXT NOT NULL,              -- JSON list of keyed hashes of the normalised name
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    expires_at REAL,
    removed_at REAL
);
CREATE INDEX bans_space ON bans (space, removed_at);

-- One-time codes: responder invites and sign-off links for verbal reports. Only a hash is stored.
CREATE TABLE codes (
    code_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    space TEXT NOT NULL,
    data TEXT NOT NULL,                -- JSON: the invitee's name and languages, or the case reference
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    used_by TEXT
);

ALTER TABLE cases ADD COLUMN purged_at REAL;
ALTER TABLE cases ADD COLUMN linked_ban INTEGER;

-- Each audit entry belongs to one space, so a space's coordinators see only their own trail.
ALTER TABLE audit ADD COLUMN space TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_space ON audit (space, id);
