-- Durable mail (DESIGN §14): every mail is written here in the same transaction that creates
-- the link it carries, and identity's sender delivers it with retries and backoff, so the mail
-- of an answered request survives a restart (at-least-once). A row holds its link in clear only
-- until it is sent or given up: then the bodies are wiped, and the row is pruned later.
CREATE TABLE mail_outbox (
    -- Insertion order: first in, first out within a priority; newest first in the mailbox.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,              -- 'reset-password', 'verify-email' or 'sign-up-notice'
    -- 0 = password reset: claimed before anything else and by a lane of its own, so a flood of
    -- other mail never delays it; 1 = everything else.
    priority        INTEGER NOT NULL,
    recipient       TEXT NOT NULL,              -- normalised address
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,              -- '' once sent or given up
    html_body       TEXT NOT NULL,              -- '' once sent or given up
    links           TEXT NOT NULL,              -- JSON array, for the development mailbox; '[]' once done
    -- 'pending' (to send) → 'sent' | 'failed'; 'dev' = kept for the development mailbox
    -- (DEV_MAILBOX=true) and never sent, even if the store is later used with SMTP_URL.
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,  -- counted at claim, so a mail that kills its sender still runs out
    next_attempt_at INTEGER NOT NULL,            -- not claimed before this (the backoff)
    -- A sender holds a claimed row until then; past it (the sender died) another may claim it.
    lease_until     INTEGER NULL,
    expires_at      INTEGER NOT NULL,            -- the link's own expiry: a mail still unsent then is given up
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER NULL,                -- sent or given up; pruned a while later
    last_error      TEXT NULL                   -- the mail server's last refusal (never a body or a link)
);

-- The claim: due pending rows in priority order; also the cheap pending count.
CREATE INDEX mail_outbox_due ON mail_outbox (state, priority, next_attempt_at);
