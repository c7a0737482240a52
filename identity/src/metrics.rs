//! identity's metrics (DESIGN §16): the HTTP families every service has, plus token exchanges
//! and sign-ins by outcome, the password-hash queue, the mail waiting to be sent and the age of
//! the signing key. Every label value is made up front, so each family is in the exposition
//! from the start and counting is one increment of a cached counter. The gauges are sampled
//! when Prometheus scrapes, not kept up to date on the hot path. No label holds user data.

use service_kit::metrics::prometheus::{Gauge, IntCounter, IntGauge};
use service_kit::metrics::{counter_vec, gauge, int_gauge, Metrics};

/// How a sign-in ended (`gatehouse_sign_ins_total{outcome}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInOutcome {
    /// A session was started.
    Success,
    /// Unknown email or wrong password (one answer for both).
    BadCredentials,
    /// Refused because the account is locked after repeated failures.
    Locked,
    /// Refused because the password hashers are saturated.
    Busy,
}

impl SignInOutcome {
    const ALL: [SignInOutcome; 4] = [
        SignInOutcome::Success,
        SignInOutcome::BadCredentials,
        SignInOutcome::Locked,
        SignInOutcome::Busy,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::Success => "success",
            SignInOutcome::BadCredentials => "bad_credentials",
            SignInOutcome::Locked => "locked",
            SignInOutcome::Busy => "busy",
        }
    }
}

/// The outcomes of the token exchange: `issued`, or the RFC 6749 error code answered.
pub const EXCHANGE_OUTCOMES: [&str; 6] = [
    "issued",
    "invalid_request",
    "unsupported_grant_type",
    "invalid_target",
    "invalid_grant",
    "server_error",
];

/// identity's registry and its own families. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IdentityMetrics {
    metrics: Metrics,
    /// Parallel to [`EXCHANGE_OUTCOMES`].
    exchanges: Vec<IntCounter>,
    /// Parallel to [`SignInOutcome::ALL`].
    sign_ins: Vec<IntCounter>,
    hash_queue_depth: IntGauge,
    mail_outbox_pending: IntGauge,
    signing_key_age: Gauge,
}

impl IdentityMetrics {
    /// A fresh registry with every family of identity.
    pub fn new() -> IdentityMetrics {
        let metrics = Metrics::new();
        let registry = metrics.registry();
        let exchanges = counter_vec(
            registry,
            "gatehouse_token_exchanges_total",
            "Token exchanges (POST /v1/token) by outcome: issued, or the OAuth error answered.",
            &["outcome"],
        );
        let sign_ins = counter_vec(
            registry,
            "gatehouse_sign_ins_total",
            "Password sign-ins by outcome: success, bad_credentials, locked or busy.",
            &["outcome"],
        );
        IdentityMetrics {
            exchanges: EXCHANGE_OUTCOMES
                .iter()
                .map(|outcome| exchanges.with_label_values(&[outcome]))
                .collect(),
            sign_ins: SignInOutcome::ALL
                .iter()
                .map(|outcome| sign_ins.with_label_values(&[outcome.as_str()]))
                .collect(),
            hash_queue_depth: int_gauge(
                registry,
                "gatehouse_password_hash_queue_depth",
                "Password hashes waiting for a hashing thread.",
            ),
            mail_outbox_pending: int_gauge(
                registry,
                "gatehouse_mail_outbox_pending",
                "Mails accepted for delivery and not yet sent.",
            ),
            signing_key_age: gauge(
                registry,
                "gatehouse_signing_key_age_seconds",
                "Seconds since the key that signs now was created (0 when no key signs).",
            ),
            metrics,
        }
    }

    /// The registry and the HTTP families.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Counts one sign-in: `state.metrics().sign_in(SignInOutcome::Locked)`.
    pub fn sign_in(&self, outcome: SignInOutcome) {
        let index = SignInOutcome::ALL
            .iter()
            .position(|known| *known == outcome)
            .unwrap_or(0);
        self.sign_ins[index].inc();
    }

    /// Counts one token exchange by its outcome (one of [`EXCHANGE_OUTCOMES`]).
    pub fn token_exchange(&self, outcome: &str) {
        if let Some(index) = EXCHANGE_OUTCOMES.iter().position(|known| *known == outcome) {
            self.exchanges[index].inc();
        }
    }

    /// `gatehouse_password_hash_queue_depth`, to set when sampled.
    pub fn hash_queue_depth(&self) -> &IntGauge {
        &self.hash_queue_depth
    }

    /// `gatehouse_mail_outbox_pending`, to set when sampled.
    pub fn mail_outbox_pending(&self) -> &IntGauge {
        &self.mail_outbox_pending
    }

    /// `gatehouse_signing_key_age_seconds`, to set when sampled.
    pub fn signing_key_age(&self) -> &Gauge {
        &self.signing_key_age
    }
}

impl Default for IdentityMetrics {
    fn default() -> Self {
        IdentityMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_and_outcome_is_exposed_before_the_first_call() {
        let metrics = IdentityMetrics::new();
        let text = metrics.metrics().render();
        for outcome in ["success", "bad_credentials", "locked", "busy"] {
            assert!(
                text.contains(&format!(
                    "gatehouse_sign_ins_total{{outcome=\"{outcome}\"}} 0"
                )),
                "{text}"
            );
        }
        for outcome in EXCHANGE_OUTCOMES {
            assert!(text.contains(&format!(
                "gatehouse_token_exchanges_total{{outcome=\"{outcome}\"}} 0"
            )));
        }
        for gauge in [
            "gatehouse_password_hash_queue_depth",
            "gatehouse_mail_outbox_pending",
            "gatehouse_signing_key_age_seconds",
        ] {
            assert!(text.contains(&format!("# TYPE {gauge} gauge")), "{gauge}");
        }
    }

    #[test]
    fn outcomes_count_under_their_label() {
        let metrics = IdentityMetrics::new();
        metrics.sign_in(SignInOutcome::Locked);
        metrics.token_exchange("invalid_grant");
        metrics.token_exchange("not an outcome");
        let text = metrics.metrics().render();
        assert!(text.contains(r#"gatehouse_sign_ins_total{outcome="locked"} 1"#));
        assert!(text.contains(r#"gatehouse_token_exchanges_total{outcome="invalid_grant"} 1"#));
    }
}
