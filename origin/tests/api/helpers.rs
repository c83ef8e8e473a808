//! `spawn_app`: the origin on a free port, on a database of its own, with a clock the test moves
//! and a hasher that counts.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use origin::clock::ManualClock;
use origin::config::Config;
use origin::hasher::{CountingHasher, Pbkdf2Hasher};
use origin::startup::{Application, Overrides};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

pub const PASSWORD: &str = "velvet-otter-signs-14";
pub const SECRET: &str = "integration-tests-secret-0123456789abcdef";
pub const MFA_KEYS: &str = "t1:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

pub struct TestApp {
    pub url: String,
    /// The `/metrics` listener's base URL.
    pub metrics_url: String,
    pub client: reqwest::Client,
    pub hasher: Arc<CountingHasher<Pbkdf2Hasher>>,
    pub clock: Arc<ManualClock>,
    pub pool: deadpool_postgres::Pool,
    /// The database this app owns and drops; `None` for an app beside another's.
    pub database: Option<TestDatabase>,
}

/// A database created for one test and dropped after it.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    server_url: String,
}

fn server_url() -> String {
    std::env::var("DATABASE_URL").expect(
        "DATABASE_URL is not set: run the tests with `cargo xtask test`, which starts a private \
         PostgreSQL, or point DATABASE_URL at a server where you may CREATE DATABASE",
    )
}

/// `postgres://user@host:port/db?x` with the database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    client
}

impl TestDatabase {
    pub async fn create() -> Self {
        let server_url = server_url();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        admin_client(&server_url)
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        Self { url: with_database(&server_url, &name), name, server_url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block: use a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let client = admin_client(&server_url).await;
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        })
        .join();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The app with extra configuration variables (`PBKDF2_ITERATIONS`, TTLs...).
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    spawn_on(Some(database), url, vars).await
}

/// The app on `database`, reaching it at `url` (which may go through a proxy).
pub async fn spawn_on(database: Option<TestDatabase>, url: String, vars: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", SECRET),
        ("ORIGIN_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("PBKDF2_ITERATIONS", "1000"),
        ("DB_POOL_SIZE", "4"),
        ("DB_TIMEOUT_MS", "1000"),
        ("MFA_ENCRYPTION_KEYS", MFA_KEYS),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = Config::from_lookup(|name| env.get(name).cloned()).expect("test configuration");
    let hasher = Arc::new(CountingHasher::new(Pbkdf2Hasher { policy: config.hash_policy }));
    let clock = Arc::new(ManualClock::starting_now());
    let overrides = Overrides { hasher: Some(hasher.clone()), clock: Some(clock.clone()) };
    let app = Application::build(&config, overrides).await.expect("build the app");
    let url = format!("http://{}", app.local_addr());
    let metrics_url = format!("http://{}", app.metrics_addr().expect("METRICS_ADDR is set"));
    let pool = app.state.pool.clone();
    tokio::spawn(app.serve(std::future::pending()));
    TestApp { url, metrics_url, client: reqwest::Client::new(), hasher, clock, pool, database }
}

pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn clock_now(&self) -> u64 {
        use origin::clock::Clock;
        self.clock.now()
    }

    /// A second app on this app's database, with other settings.
    pub async fn beside(&self, vars: &[(&str, &str)]) -> TestApp {
        let url = self.database.as_ref().expect("an app that owns its database").url.clone();
        spawn_on(None, url, vars).await
    }

    /// The metrics text, as Prometheus scrapes it.
    pub async fn metrics(&self) -> String {
        let response = self.client.get(format!("{}/metrics", self.metrics_url)).send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("metrics text")
    }

    pub async fn password_hash(&self, username: &str) -> String {
        let client = self.pool.get().await.expect("connection");
        let row = client.query_one("SELECT password FROM users WHERE username = $1", &[&username]).await.expect("user");
        row.get(0)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(format!("{}{path}", self.url)).json(body).send().await.expect("request")
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn patch_me(&self, token: &str, body: &Value) -> Response {
        self.client.patch(format!("{}/users", self.url)).bearer_auth(token).json(body).send().await.expect("request")
    }

    pub async fn delete_me(&self, token: &str) -> Response {
        self.client.delete(format!("{}/users", self.url)).bearer_auth(token).send().await.expect("request")
    }

    pub async fn sign_up(&self, username: &str) -> Response {
        self.post_json(
            "/users",
            &json!({
                "username": username,
                "password": PASSWORD,
                "email": format!("{username}@test.com"),
                "first_name": "fname",
                "last_name": "lname",
            }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json("/auth/login", &json!({"username": username, "password": password})).await
    }

    /// Signs `username` up and logs in.
    pub async fn user(&self, username: &str) -> Tokens {
        assert_eq!(self.sign_up(username).await.status(), StatusCode::CREATED);
        self.tokens(username, PASSWORD).await
    }

    pub async fn tokens(&self, username: &str, password: &str) -> Tokens {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        Tokens {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    /// Signs `username` up, makes it an admin in the database, and logs in.
    pub async fn admin(&self, username: &str) -> Tokens {
        assert_eq!(self.sign_up(username).await.status(), StatusCode::CREATED);
        self.sql(&format!("UPDATE users SET role = 'admin' WHERE username = '{username}'")).await;
        self.tokens(username, PASSWORD).await
    }

    pub async fn sql(&self, statement: &str) {
        self.pool.get().await.expect("connection").batch_execute(statement).await.expect("sql");
    }
}

/// A token's claims, read without verification.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Status, then the JSON body.
pub async fn status_json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

pub fn detail(text: &str) -> Value {
    json!({ "detail": text })
}

/// A TCP proxy in front of PostgreSQL that a test can cut and restore, so an outage never
/// touches a server other tests use.
pub struct TcpProxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (accept_open, accept_connections) = (open.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accept_open.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                accept_connections.lock().await.push(task.abort_handle());
            }
        });
        Self { addr, open, connections }
    }

    /// Refuses new connections and breaks the open ones.
    pub async fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().await.drain(..) {
            connection.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `addr`.
pub fn through(url: &str, addr: SocketAddr) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map_or(0, |i| i + 1);
    let host_end = rest.find('/').unwrap_or(rest.len());
    format!("{}{}{addr}{}", &url[..scheme_end], &rest[..host_start], &rest[host_end..])
}

/// `host:port` of a `postgres://` URL.
pub fn host_port(url: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[scheme_end..];
    let host_start = rest.find('@').map_or(0, |i| i + 1);
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host = &rest[host_start..host_end];
    if host.contains(':') { host.to_owned() } else { format!("{host}:5432") }
}
