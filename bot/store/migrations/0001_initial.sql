-- Haven schema, version 1. Times are UTC epoch seconds. Columns named "sealed", "content",
-- "payload" and "body" hold AES-256-GCM ciphertext under the data key named by key_id.

CREATE TABLE keys (
    id INTEGER PRIMARY KEY,
    purpose TEXT NOT NULL,
    wrapped BLOB,                      -- NULL once destroyed: the records it sealed are erased
    created_at REAL NOT NULL,
    destroyed_at REAL
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    payload BLOB,                      -- sealed update; wiped once processed
    processed_at REAL,
    failed INTEGER NOT NULL DEFAULT 0, -- set aside after an error; the payload is kept for a replay
    UNIQUE (source, external_id)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;

CREATE TABLE conversations (
    chat_hash TEXT PRIMARY KEY,        -- keyed hash of the chat address
    key_id INTEGER NOT NULL REFERENCES keys (id),
    sealed BLOB NOT NULL,              -- chat, language, space, flow state
    updated_at REAL NOT NULL,
    has_draft INTEGER NOT NULL DEFAULT 0,
    reminded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_idle ON conversations (updated_at) WHERE has_draft = 1;

CREATE TABLE reporters (
    space TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    identity_hash TEXT,                -- NULL once the reporter used "forget"
    key_id INTEGER REFERENCES keys (id),
    sealed BLOB,                       -- chat and identity
    language TEXT NOT NULL,
    blocked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, pseudonym)
);
CREATE UNIQUE INDEX reporters_identity ON reporters (space, identity_hash);

CREATE TABLE cases (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    state TEXT NOT NULL,
    urgency TEXT NOT NULL,
    category TEXT NOT NULL,
    role TEXT NOT NULL,
    source TEXT NOT NULL,
    language TEXT NOT NULL,
    reporter TEXT,
    contact TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    assignees TEXT NOT NULL DEFAULT '[]',
    outcome TEXT,
    resolved_at REAL,
    signed_off INTEGER,
    key_id INTEGER REFERENCES keys (id),
    content BLOB
);
CREATE INDEX cases_space ON cases (space, state, created_at);
CREATE INDEX cases_reporter ON cases (space, reporter);

CREATE TABLE case_events (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case ON case_events (case_id, id);
CREATE TRIGGER case_events_no_update BEFORE UPDATE ON case_events
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN SELECT RAISE(ABORT, 'case history is append-only'); END;

CREATE TABLE case_messages (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX case_messages_case ON case_messages (case_id, id);

CREATE TABLE cards (
    case_ref TEXT NOT NULL,
    room TEXT NOT NULL,
    message_ref TEXT,
    thread_ref TEXT,
    PRIMARY KEY (case_ref, room)
);
CREATE INDEX cards_message ON cards (room, message_ref);
CREATE INDEX cards_thread ON cards (room, thread_ref);

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,          -- idempotency key
    platform TEXT NOT NULL,
    lane INTEGER NOT NULL,
    chat_hash TEXT NOT NULL,
    payload BLOB,                      -- sealed effect; wiped once finished
    state TEXT NOT NULL DEFAULT 'pending',
    not_before REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    finished_at REAL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (platform, id) WHERE state = 'pending';
CREATE INDEX outbox_sending ON outbox (id) WHERE state = 'sending';

CREATE TABLE timers (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    due REAL NOT NULL,
    case_id INTEGER REFERENCES cases (id),
    data TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    fired_at REAL,
    cancelled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX timers_due ON timers (due) WHERE fired_at IS NULL AND cancelled = 0;
CREATE INDEX timers_case ON timers (case_id);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
