-- Reports that concern the same person, linked without storing names: each row is a keyed hash
-- (HMAC under a secret wrapped by the master key) of one normalised identifier from "who was involved".
CREATE TABLE person_tokens (
    space TEXT NOT NULL,
    token TEXT NOT NULL,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    PRIMARY KEY (space, token, case_id)
);
CREATE INDEX person_tokens_case ON person_tokens (case_id);
