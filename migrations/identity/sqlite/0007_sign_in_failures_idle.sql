-- Counters of addresses that stopped being tried are pruned (lockout::prune): after a day without
-- a counted attempt, with the lock over, the address starts afresh. The index keeps that sweep
-- from reading every row an attacker with made-up addresses created.
CREATE INDEX sign_in_failures_updated_at ON sign_in_failures (updated_at);
