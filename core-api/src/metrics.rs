//! core-api's metrics (DESIGN §16): the HTTP families every service has, plus what its token
//! verifier saw — `gatehouse_token_verifications_total{outcome,check}` and
//! `gatehouse_jwks_refreshes_total{outcome}`. The verifier reports through shared-claims'
//! observer hook; every label value is made up front, so each family is in the exposition from
//! the start and the hot path only increments a cached counter.

use std::sync::Arc;

use service_kit::metrics::prometheus::IntCounter;
use service_kit::metrics::{counter_vec, Metrics};
use shared_claims::{VerifierObserver, VerifyError};

/// core-api's registry and the verifier's counters.
#[derive(Clone, Debug)]
pub struct CoreApiMetrics {
    metrics: Metrics,
    observer: Arc<VerificationCounters>,
}

/// Counters the verifier increments, one cached handle per label value.
#[derive(Debug)]
struct VerificationCounters {
    accepted: IntCounter,
    /// Parallel to [`VerifyError::CHECKS`].
    refused: Vec<IntCounter>,
    jwks_succeeded: IntCounter,
    jwks_failed: IntCounter,
}

impl CoreApiMetrics {
    /// A fresh registry with every family of core-api.
    pub fn new() -> CoreApiMetrics {
        let metrics = Metrics::new();
        let registry = metrics.registry();
        let verifications = counter_vec(
            registry,
            "gatehouse_token_verifications_total",
            "Internal tokens verified: outcome accepted or refused, and the check that refused it.",
            &["outcome", "check"],
        );
        let refreshes = counter_vec(
            registry,
            "gatehouse_jwks_refreshes_total",
            "Fetches of identity's JWKS, by outcome (success keeps the new key set).",
            &["outcome"],
        );
        let observer = VerificationCounters {
            accepted: verifications.with_label_values(&["accepted", "none"]),
            refused: VerifyError::CHECKS
                .iter()
                .map(|check| verifications.with_label_values(&["refused", check]))
                .collect(),
            jwks_succeeded: refreshes.with_label_values(&["success"]),
            jwks_failed: refreshes.with_label_values(&["failure"]),
        };
        CoreApiMetrics {
            metrics,
            observer: Arc::new(observer),
        }
    }

    /// The registry and the HTTP families.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The hook to hand the verifier.
    pub fn verifier_observer(&self) -> Arc<dyn VerifierObserver> {
        self.observer.clone()
    }
}

impl Default for CoreApiMetrics {
    fn default() -> Self {
        CoreApiMetrics::new()
    }
}

impl VerifierObserver for VerificationCounters {
    fn verified(&self, outcome: Result<(), VerifyError>) {
        match outcome {
            Ok(()) => self.accepted.inc(),
            Err(error) => {
                let check = error.check();
                if let Some(index) = VerifyError::CHECKS.iter().position(|known| *known == check) {
                    self.refused[index].inc();
                }
            }
        }
    }

    fn jwks_refreshed(&self, succeeded: bool) {
        if succeeded {
            self.jwks_succeeded.inc();
        } else {
            self.jwks_failed.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exposed_before_the_first_token() {
        let metrics = CoreApiMetrics::new();
        let text = metrics.metrics().render();
        assert!(
            text.contains(
                r#"gatehouse_token_verifications_total{check="none",outcome="accepted"} 0"#
            ),
            "{text}"
        );
        assert!(text.contains(
            r#"gatehouse_token_verifications_total{check="expired",outcome="refused"} 0"#
        ));
        assert!(text.contains(r#"gatehouse_jwks_refreshes_total{outcome="failure"} 0"#));
    }

    #[test]
    fn refusals_count_under_their_check() {
        let metrics = CoreApiMetrics::new();
        let observer = metrics.verifier_observer();
        observer.verified(Err(VerifyError::AudienceMismatch));
        observer.verified(Ok(()));
        observer.jwks_refreshed(true);
        let text = metrics.metrics().render();
        assert!(text.contains(
            r#"gatehouse_token_verifications_total{check="audience_mismatch",outcome="refused"} 1"#
        ));
        assert!(text
            .contains(r#"gatehouse_token_verifications_total{check="none",outcome="accepted"} 1"#));
        assert!(text.contains(r#"gatehouse_jwks_refreshes_total{outcome="success"} 1"#));
    }
}
