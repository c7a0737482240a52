-- At most 3 mails of each kind per address per 10 minutes (DESIGN §6), decided atomically.
-- Each (address, kind) has 3 slots; sending claims a slot that is free or whose last mail left
-- the window (`INSERT … ON CONFLICT … DO UPDATE … WHERE sent_at <= cutoff`). A mail still inside
-- the window is never overwritten, so no window ever holds more than 3, even under races.
CREATE TABLE mail_quota (
    email   TEXT NOT NULL,                    -- normalised address the mail went to
    kind    TEXT NOT NULL,                    -- 'verify-email' or 'reset-password'
    slot    INTEGER NOT NULL,                  -- 0, 1 or 2
    sent_at INTEGER NOT NULL,                  -- ms since the epoch of the mail in this slot
    PRIMARY KEY (email, kind, slot)
);
