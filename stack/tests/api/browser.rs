//! Journeys in a real headless Chromium (Debian's `chromium` and `chromium-driver`) driven over
//! WebDriver: the pages, `/static/app.js` and the JSON API together, as a person would use them.
//! Skipped with a printed reason when chromedriver is missing, except under `CI=true`. Each
//! journey saves a screenshot of its last page under `target/screenshots/`. With
//! `GATEHOUSE_DOCS_SCREENSHOTS=<dir>` set, the journeys also save the README's pictures of the
//! sign-in, account and app pages there (`GATEHOUSE_DOCS_SCREENSHOTS=$PWD/docs cargo test -p
//! stack browser`).

mod mail_links;
mod social;
mod two_devices;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::support::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the browser may take for one step (a page load, a fetch, a re-render).
const STEP: Duration = Duration::from_secs(15);

/// A free port on 127.0.0.1 (bound, then released for a child process or a fixed-origin edge).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// chromedriver as a child process, killed when dropped (also when a step panics).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WebDriver session in a headless Chromium with its own profile directory.
struct Chromium {
    client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium; `None` (skip) when chromedriver is missing.
    async fn start() -> Option<Chromium> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{CHROMEDRIVER} must exist when CI=true: the browser journeys may not be skipped");
            }
            eprintln!("skipping a browser journey: {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)");
            return None;
        }
        let port = free_port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let client = wait_for_driver_then_connect(port, &profile).await;
        client
            .set_window_size(1280, 900)
            .await
            .expect("window size");
        Some(Chromium {
            client,
            _driver: driver,
            _profile: profile,
        })
    }
}

/// Polls chromedriver's `/status` until it is ready (deadline 20 s), then opens a session.
async fn wait_for_driver_then_connect(port: u16, profile: &tempfile::TempDir) -> Client {
    let status_url = format!("http://127.0.0.1:{port}/status");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let ready = format!("chromedriver ready on port {port}");
    test_support::eventually(Duration::from_secs(20), &ready, || async {
        match http.get(&status_url).send().await {
            Ok(response) => response
                .json::<serde_json::Value>()
                .await
                .is_ok_and(|s| s["value"]["ready"] == true),
            Err(_) => false,
        }
    })
    .await;
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        format!("--user-data-dir={}", profile.path().display()),
    ];
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session starts")
}

/// A stack whose edge listens on the port its PUBLIC_URL names, so the browser's `Origin` is
/// the public origin; `None` when the store is unavailable.
async fn stack_for_browser() -> Option<TestStack> {
    let mut setup = Setup::new(Store::Sqlite).await?;
    let port = free_port();
    setup.edge.addr = format!("127.0.0.1:{port}").parse().expect("addr");
    setup.edge.public_url = format!("http://127.0.0.1:{port}");
    setup.identity.public_url = setup.edge.public_url.clone();
    Some(setup.start().await)
}

/// Polls `condition` until it holds; after [`STEP`], takes a screenshot and fails with `what`.
async fn eventually<F, Fut>(client: &Client, what: &str, mut condition: F)
where
    F: FnMut(Client) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    if test_support::poll_until(STEP, || condition(client.clone()))
        .await
        .is_err()
    {
        let _ = screenshot(client, &format!("failed-{}", what.replace(' ', "-"))).await;
        panic!(
            "timed out waiting until {what} (at {:?})",
            client.current_url().await.map(|u| u.to_string())
        );
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(client: &Client, css: &str, value: &str) {
    let input = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css(css))
        .await
        .expect(css);
    input.clear().await.expect("clear");
    input.send_keys(value).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

/// Saves the current page as `target/screenshots/<name>.png`.
async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(&path, png).expect("write screenshot");
    path
}

/// With `GATEHOUSE_DOCS_SCREENSHOTS=<dir>` set, also saves the current page as `<dir>/<name>.png`
/// for the README (the window is desktop-sized, 1280×900), scrolled to the element with id
/// `scroll_to`, or to the top.
async fn docs_screenshot(client: &Client, name: &str, scroll_to: Option<&str>) {
    let Some(dir) = std::env::var_os("GATEHOUSE_DOCS_SCREENSHOTS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("docs screenshot dir");
    let script = match scroll_to {
        Some(_) => "document.getElementById(arguments[0]).scrollIntoView()",
        None => "window.scrollTo(0, 0)",
    };
    let args = scroll_to.map(|id| vec![json!(id)]).unwrap_or_default();
    client.execute(script, args).await.expect("scroll");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write docs screenshot");
}

/// Waits until the browser shows the page at `path`.
async fn wait_for_path(client: &Client, path: &'static str) {
    eventually(
        client,
        &format!("the page {path} is open"),
        move |c| async move { c.current_url().await.is_ok_and(|url| url.path() == path) },
    )
    .await;
}

/// Waits until the element at `css` shows text containing `expected`.
async fn wait_for_text(client: &Client, css: &'static str, expected: &str) {
    let what = format!("{css} shows {expected:?}");
    let expected = expected.to_owned();
    eventually(client, &what, move |c| {
        let expected = expected.clone();
        async move { text_of(&c, css).await.contains(&expected) }
    })
    .await;
}

#[tokio::test]
async fn signing_up_in_a_browser_leads_to_the_app_where_an_order_can_be_placed() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();
    let email = unique_email("chromium");

    client
        .goto(&format!("{}/sign-up", stack.public_url))
        .await
        .expect("open sign-up");
    fill(&client, "#sign-up-name", "Grace").await;
    fill(&client, "#sign-up-email", &email).await;
    fill(&client, "#sign-up-password", PASSWORD).await;
    click(&client, "#sign-up button[type=submit]").await;

    eventually(&client, "the app page is open", |c| async move {
        c.current_url().await.is_ok_and(|url| url.path() == "/app")
    })
    .await;
    let expected = email.clone();
    eventually(&client, "the profile shows the email", move |c| {
        let expected = expected.clone();
        async move { text_of(&c, "#profile").await.contains(&expected) }
    })
    .await;
    eventually(&client, "the products are listed", |c| async move {
        c.find_all(Locator::Css("#order-product_id option"))
            .await
            .is_ok_and(|options| !options.is_empty())
    })
    .await;
    let product = text_of(&client, "#order-product_id option").await;
    let product_name = product.split(" (").next().unwrap_or_default().to_owned();
    assert!(!product_name.is_empty(), "a product has a name");
    assert!(text_of(&client, "#orders").await.contains("No orders yet."));

    fill(&client, "#order-quantity", "2").await;
    click(&client, "#order button[type=submit]").await;
    eventually(&client, "the order is listed", move |c| {
        let product_name = product_name.clone();
        async move {
            let orders = text_of(&c, "#orders").await;
            orders.contains(&product_name) && !orders.contains("No orders yet.")
        }
    })
    .await;
    assert_eq!(text_of(&client, "#order-status").await, "Order placed.");
    assert_eq!(text_of(&client, "#order-alert").await, "");

    client
        .execute("document.getElementById('orders').scrollIntoView()", vec![])
        .await
        .expect("scroll to the orders");
    screenshot(&client, "sign-up-and-order").await;
    client.clone().close().await.expect("close the session");
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_next_to_the_form_and_stays_on_sign_in() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let email = unique_email("wrongpw");
    let response = stack.browser().sign_up("Linus", &email, PASSWORD).await;
    assert_eq!(response.status(), 200, "sign-up of {email}");
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();

    client
        .goto(&format!("{}/sign-in?next=/account", stack.public_url))
        .await
        .expect("open sign-in");
    fill(&client, "#sign-in-email", &email).await;
    fill(&client, "#sign-in-password", "not the password at all").await;
    click(&client, "#sign-in button[type=submit]").await;

    eventually(&client, "the sign-in error is shown", |c| async move {
        !text_of(&c, "#sign-in-alert").await.is_empty()
    })
    .await;
    assert_eq!(
        text_of(&client, "#sign-in-alert").await,
        "The email address or password is incorrect."
    );
    let password = client
        .find(Locator::Css("#sign-in-password"))
        .await
        .expect("password input");
    assert_eq!(
        password
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    let url = client.current_url().await.expect("url");
    assert_eq!(
        (url.path(), url.query()),
        ("/sign-in", Some("next=/account")),
        "no navigation happened"
    );

    screenshot(&client, "wrong-password").await;
    client.clone().close().await.expect("close the session");
}

#[tokio::test]
async fn the_account_page_marks_this_device_and_changes_the_name() {
    let Some(stack) = stack_for_browser().await else {
        return;
    };
    let Some(chromium) = Chromium::start().await else {
        return;
    };
    let client = chromium.client.clone();

    client
        .goto(&format!("{}/account", stack.public_url))
        .await
        .expect("open account");
    let url = client.current_url().await.expect("url");
    assert_eq!(
        (url.path(), url.query()),
        ("/sign-in", Some("next=/account")),
        "signed out, the account page sends the browser to sign-in"
    );
    let email = unique_email("account");
    client
        .goto(&format!("{}/sign-up?next=/account", stack.public_url))
        .await
        .expect("open sign-up");
    fill(&client, "#sign-up-name", "Ada").await;
    fill(&client, "#sign-up-email", &email).await;
    fill(&client, "#sign-up-password", PASSWORD).await;
    click(&client, "#sign-up button[type=submit]").await;
    eventually(
        &client,
        "the sessions list marks this device",
        |c| async move {
            c.current_url()
                .await
                .is_ok_and(|url| url.path() == "/account")
                && text_of(&c, "#sessions").await.contains("This device")
        },
    )
    .await;

    fill(&client, "#name-name", "Ada Lovelace").await;
    click(&client, "#name button[type=submit]").await;
    eventually(&client, "the new name is shown", |c| async move {
        text_of(&c, "#profile-name").await == "Ada Lovelace"
    })
    .await;

    screenshot(&client, "account").await;
    client.clone().close().await.expect("close the session");
}
