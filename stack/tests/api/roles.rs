//! On PostgreSQL each service runs as its own role, and neither can read the other's schema.

use serde_json::Value;

use test_support::TestDatabase;

use crate::support::{Setup, Store, TestStack};

fn as_role(url: &str, role: &str) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_username(role).unwrap();
    url.set_password(None).unwrap();
    url.to_string()
}

async fn refused(url: &str, query: &str) -> bool {
    let pool = sqlx::PgPool::connect(url)
        .await
        .expect("the role may log in");
    match sqlx::query(query).fetch_all(&pool).await {
        Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some("42501"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => false,
    }
}

#[tokio::test]
async fn each_service_role_is_refused_on_the_other_schema() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let url = database.url();
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::raw_sql(include_str!("../../../docker/postgres/roles.sql"))
        .execute(&admin)
        .await
        .unwrap();

    let Some(mut setup) = Setup::new(Store::Sqlite).await else {
        return;
    };
    setup.identity.database_url = as_role(url, "gatehouse_identity").parse().expect("a URL");
    setup.core_api.database_url = as_role(url, "gatehouse_core").parse().expect("a URL");
    let stack: TestStack = setup.start().await;

    // Both services migrated their own schema as their own role, and the system works.
    let alice = stack.signed_in("Alice").await;
    let products: Value = alice.get("/api/products").await.json().await.unwrap();
    assert!(!products["products"].as_array().unwrap().is_empty());

    assert!(
        refused(
            &as_role(url, "gatehouse_identity"),
            "SELECT * FROM app.products"
        )
        .await
    );
    assert!(
        refused(
            &as_role(url, "gatehouse_identity"),
            "SELECT * FROM app.orders"
        )
        .await
    );
    assert!(refused(&as_role(url, "gatehouse_core"), "SELECT * FROM auth.users").await);
    assert!(
        refused(
            &as_role(url, "gatehouse_core"),
            "SELECT * FROM auth.sessions"
        )
        .await
    );
}
