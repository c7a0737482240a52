//! The keys' schedule (`keys.json`) and the lifecycle rules computed from it and the clock alone:
//! which key signs, which keys are published, each key's state. No I/O here, so several replicas
//! reading the same file agree, and the rules test without a directory.

use serde::{Deserialize, Serialize};

use super::Kid;

/// The version of the `keys.json` format this code reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Where a key is in its life at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not signing yet.
    Pending,
    /// The key that signs.
    Active,
    /// No longer signing (retired or superseded); published until its tokens have expired.
    Retired,
    /// Withdrawn: unpublished at once.
    Revoked,
}

impl KeyState {
    /// The state's name as `list` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// One key's schedule. Times are milliseconds since the Unix epoch (RFC 3339 in the file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    /// The key id, also the name of its `.pem` file.
    pub kid: Kid,
    /// When the key was made.
    #[serde(with = "rfc3339")]
    pub created_at: i64,
    /// From when it may sign.
    #[serde(with = "rfc3339")]
    pub activates_at: i64,
    /// From when it no longer signs (`None`: until a newer key takes over).
    #[serde(with = "rfc3339::option")]
    pub retires_at: Option<i64>,
    /// When it was revoked; a revoked key neither signs nor is published.
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<i64>,
    /// Why it was revoked, as the operator said.
    pub revoked_reason: Option<String>,
}

impl KeyMeta {
    /// A key made at `now` that activates at `activates_at`.
    pub fn new(kid: Kid, now: i64, activates_at: i64) -> KeyMeta {
        KeyMeta {
            kid,
            created_at: now,
            activates_at,
            retires_at: None,
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether the key may sign at `at`, ignoring newer keys.
    fn may_sign_at(&self, at: i64) -> bool {
        !self.is_revoked() && self.activates_at <= at && self.retires_at.is_none_or(|r| r > at)
    }

    /// The order in which keys take over: later activation first, then creation, then kid, so
    /// every replica breaks ties the same way.
    fn precedence(&self) -> (i64, i64, &Kid) {
        (self.activates_at, self.created_at, &self.kid)
    }
}

/// The contents of `keys.json`: every key's schedule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Always [`FORMAT_VERSION`].
    pub version: u32,
    /// The keys, in no particular order.
    pub keys: Vec<KeyMeta>,
}

impl Schedule {
    /// An empty schedule of the current format.
    pub fn empty() -> Schedule {
        Schedule {
            version: FORMAT_VERSION,
            keys: Vec::new(),
        }
    }

    /// The key with this kid, if listed.
    #[cfg(test)]
    pub fn find(&self, kid: &Kid) -> Option<&KeyMeta> {
        self.keys.iter().find(|k| &k.kid == kid)
    }

    /// The same, mutable.
    #[cfg(test)]
    pub fn find_mut(&mut self, kid: &Kid) -> Option<&mut KeyMeta> {
        self.keys.iter_mut().find(|k| &k.kid == kid)
    }

    /// The index of the key that signs at `at`: the newest (by activation) key that has
    /// activated, is not retired and is not revoked.
    pub fn signer_index(&self, at: i64) -> Option<usize> {
        self.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.may_sign_at(at))
            .max_by(|(_, a), (_, b)| a.precedence().cmp(&b.precedence()))
            .map(|(i, _)| i)
    }

    /// The key that signs at `at`.
    pub fn signer(&self, at: i64) -> Option<&KeyMeta> {
        self.signer_index(at).map(|i| &self.keys[i])
    }

    /// The state of the key at `index` at time `now`.
    pub fn state(&self, index: usize, now: i64) -> KeyState {
        let key = &self.keys[index];
        if key.is_revoked() {
            KeyState::Revoked
        } else if key.activates_at > now {
            KeyState::Pending
        } else if self.signer_index(now) == Some(index) {
            KeyState::Active
        } else {
            KeyState::Retired
        }
    }

    /// The last moment before `now` at which the key at `index` was the signer, as the
    /// schedule tells it now; `None` if it never signed. The signer only changes when some key
    /// activates or retires, so checking those moments is enough.
    fn last_signed_until(&self, index: usize, now: i64) -> Option<i64> {
        let mut moments: Vec<i64> = self
            .keys
            .iter()
            .filter(|k| !k.is_revoked())
            .flat_map(|k| [Some(k.activates_at), k.retires_at])
            .flatten()
            .filter(|&m| m <= now)
            .collect();
        moments.push(now);
        moments.sort_unstable();
        moments.dedup();
        moments
            .windows(2)
            .filter(|w| self.signer_index(w[0]) == Some(index))
            .map(|w| w[1])
            .max()
    }

    /// Whether the key at `index` is in the JWKS at `now`: pending, active, or retired less than
    /// `retired_window_ms` after it last signed. Never when revoked.
    pub fn is_published(&self, index: usize, now: i64, retired_window_ms: i64) -> bool {
        match self.state(index, now) {
            KeyState::Pending | KeyState::Active => true,
            KeyState::Revoked => false,
            KeyState::Retired => {
                // A key that never signed made no tokens; keep it one window past activation
                // anyway so a verifier that was told about it is not surprised.
                let until = self
                    .last_signed_until(index, now)
                    .unwrap_or(self.keys[index].activates_at);
                now < until.saturating_add(retired_window_ms)
            }
        }
    }

    /// Whether `prune` may remove the key at `index`: revoked, or retired and no longer published.
    pub fn is_prunable(&self, index: usize, now: i64, retired_window_ms: i64) -> bool {
        match self.state(index, now) {
            KeyState::Revoked => true,
            KeyState::Retired => !self.is_published(index, now, retired_window_ms),
            KeyState::Pending | KeyState::Active => false,
        }
    }

    /// Indexes of the keys published at `now`.
    pub fn published(&self, now: i64, retired_window_ms: i64) -> impl Iterator<Item = usize> + '_ {
        (0..self.keys.len()).filter(move |&i| self.is_published(i, now, retired_window_ms))
    }

    /// Reads `keys.json`'s text and checks it; the reason names what is wrong.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let schedule: Schedule = serde_json::from_str(text).map_err(|e| e.to_string())?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks what serde cannot: the version and that no kid is listed twice.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != FORMAT_VERSION {
            return Err(format!(
                "version {} is not supported (expected {FORMAT_VERSION})",
                self.version
            ));
        }
        for (i, key) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(format!("key {} is listed twice", key.kid));
            }
        }
        Ok(())
    }
}

/// RFC 3339 UTC times in `keys.json`, held as milliseconds since the epoch.
mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(millis: &i64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&service_kit::timefmt::rfc3339_millis(*millis))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        let text = String::deserialize(deserializer)?;
        let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}"))
        })?;
        // Written back in UTC with a four-digit year: a time outside that would not read back.
        if !at
            .checked_to_utc()
            .is_some_and(|utc| (0..=9999).contains(&utc.year()))
        {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is outside the years 0000 to 9999 in UTC"
            )));
        }
        Ok(service_kit::clock::millis(at))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            millis: &Option<i64>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match millis {
                Some(m) => super::serialize(m, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<i64>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] i64);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(m)| m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const WINDOW: i64 = 3 * MIN;

    fn kid(n: u8) -> Kid {
        Kid::of_public_key(&[n; 32])
    }

    fn schedule(keys: Vec<KeyMeta>) -> Schedule {
        Schedule {
            version: FORMAT_VERSION,
            keys,
        }
    }

    #[test]
    fn the_newest_activated_key_signs_and_a_pending_one_does_not() {
        let mut old = KeyMeta::new(kid(1), 0, 0);
        old.retires_at = Some(10 * MIN);
        let new = KeyMeta::new(kid(2), MIN, 10 * MIN);
        let s = schedule(vec![old, new]);
        assert_eq!(s.signer(5 * MIN).map(|k| &k.kid), Some(&kid(1)));
        assert_eq!(s.state(1, 5 * MIN), KeyState::Pending);
        assert_eq!(s.signer(10 * MIN).map(|k| &k.kid), Some(&kid(2)));
        assert_eq!(s.state(0, 10 * MIN), KeyState::Retired);
    }

    #[test]
    fn a_superseded_key_counts_as_retired_even_without_retires_at() {
        let s = schedule(vec![
            KeyMeta::new(kid(1), 0, 0),
            KeyMeta::new(kid(2), 0, MIN),
        ]);
        assert_eq!(s.state(0, 2 * MIN), KeyState::Retired);
        assert_eq!(s.state(1, 2 * MIN), KeyState::Active);
    }

    #[test]
    fn a_retired_key_stays_published_for_the_window_after_it_last_signed() {
        let mut old = KeyMeta::new(kid(1), 0, 0);
        old.retires_at = Some(10 * MIN);
        let s = schedule(vec![old, KeyMeta::new(kid(2), MIN, 10 * MIN)]);
        assert!(s.is_published(0, 10 * MIN + WINDOW - 1, WINDOW));
        assert!(!s.is_published(0, 10 * MIN + WINDOW, WINDOW));
        assert!(s.is_prunable(0, 10 * MIN + WINDOW, WINDOW));
        assert!(!s.is_prunable(1, 10 * MIN + WINDOW, WINDOW));
    }

    #[test]
    fn a_revoked_key_neither_signs_nor_is_published() {
        let mut only = KeyMeta::new(kid(1), 0, 0);
        only.revoked_at = Some(MIN);
        let s = schedule(vec![only]);
        assert_eq!(s.signer(2 * MIN), None);
        assert_eq!(s.state(0, 2 * MIN), KeyState::Revoked);
        assert_eq!(s.published(2 * MIN, WINDOW).count(), 0);
    }

    #[test]
    fn equal_activation_times_are_broken_the_same_way_by_everyone() {
        let a = KeyMeta::new(kid(1), 0, MIN);
        let b = KeyMeta::new(kid(2), 0, MIN);
        let one = schedule(vec![a.clone(), b.clone()]);
        let other = schedule(vec![b, a]);
        assert_eq!(
            one.signer(MIN).map(|k| &k.kid),
            other.signer(MIN).map(|k| &k.kid)
        );
    }

    #[test]
    fn keys_json_round_trips_with_rfc_3339_times_and_nulls() {
        let s = schedule(vec![KeyMeta::new(
            kid(1),
            1_735_732_800_123,
            1_735_732_800_123,
        )]);
        let json = serde_json::to_value(&s).expect("a schedule serializes");
        let key = &json["keys"][0];
        assert_eq!(json["version"], 1);
        assert_eq!(key["created_at"], "2025-01-01T12:00:00.123Z");
        assert_eq!(key["retires_at"], serde_json::Value::Null);
        assert_eq!(key["revoked_reason"], serde_json::Value::Null);
        let back: Schedule = serde_json::from_value(json).expect("it reads back");
        assert_eq!(back, s);
    }

    /// Caught by the key_dir fuzz target's read-back check (`fuzz/regressions/key_dir/`): such a
    /// time was accepted, then written back by the next `rotate` as 1970 — a retirement meant
    /// as "never" became "long ago".
    #[test]
    fn a_time_outside_four_digit_utc_years_is_refused_rather_than_rewritten() {
        let at = |time: &str| {
            let kid = kid(1);
            Schedule::parse(&format!(
                r#"{{"version":1,"keys":[{{"kid":"{kid}","created_at":"{time}","activates_at":"{time}",
                "retires_at":null,"revoked_at":null,"revoked_reason":null}}]}}"#
            ))
        };
        for outside in ["9999-12-31T23:59:59-01:00", "0000-01-01T00:30:00+01:00"] {
            let refused = at(outside).expect_err("outside the writable years");
            assert!(
                refused.contains("outside the years 0000 to 9999"),
                "{refused}"
            );
        }
        for inside in [
            "9999-12-31T23:59:59+01:00",
            "0000-01-01T00:30:00-01:00",
            "2025-01-01T12:00:00.123Z",
        ] {
            let schedule = at(inside).expect("inside the writable years");
            let written = serde_json::to_string(&schedule).expect("a schedule serializes");
            assert_eq!(Schedule::parse(&written), Ok(schedule), "{inside}");
        }
    }

    #[test]
    fn a_duplicate_kid_or_unknown_version_is_invalid() {
        assert!(
            schedule(vec![KeyMeta::new(kid(1), 0, 0), KeyMeta::new(kid(1), 0, 0)])
                .validate()
                .is_err()
        );
        assert!(Schedule {
            version: 2,
            keys: vec![]
        }
        .validate()
        .is_err());
        assert!(schedule(vec![KeyMeta::new(kid(1), 0, 0)])
            .validate()
            .is_ok());
    }
}
