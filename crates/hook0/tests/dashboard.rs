//! The dashboard as the `hook0` binary serves it: beside the API on the same port, announced
//! at start, off with `DISABLE_SERVING_WEBAPP`, and not throttled by the API's per-token rate
//! limit (one page makes several API calls in-process).

mod support;

use reqwest::redirect::Policy;

struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: Vec::new(),
        }
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
    }

    fn cookie(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> u16 {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie())
            .header("origin", self.base.clone())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r.status().as_u16()
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(k, _)| k == "hook0_csrf")
            .map(|(_, v)| v.clone())
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_not_throttled_by_the_api_token_limit_and_the_dashboard_can_be_turned_off() {
    let data = tempfile::tempdir().unwrap();
    let server = support::start(
        "serve",
        data.path(),
        &[
            ("DISABLE_API_RATE_LIMITING", "false"),
            ("API_RATE_LIMITING_TOKEN_BURST_SIZE", "3"),
            ("API_RATE_LIMITING_TOKEN_REPLENISH_PERIOD_IN_MS", "60000"),
        ],
    );
    let base = server.api.trim_end_matches("/api/v1").to_owned();
    let mut browser = Browser::new(&base);
    assert_eq!(browser.get("/register").await.0, 200);
    let csrf = browser.csrf();
    let status = browser
        .post(
            "/register",
            &[
                ("csrf", &csrf),
                ("first_name", "Ada"),
                ("last_name", "Lovelace"),
                ("email", "ada@example.com"),
                ("password", "correct-zebra-staple-42"),
            ],
        )
        .await;
    assert_eq!(status, 303, "the first account is signed in at once");
    // Each organization page makes several API calls; ten of them stay well within reach.
    for _ in 0..10 {
        let (status, html) = browser.get("/organizations").await;
        assert_eq!(status, 200, "{html}");
    }
    // The API itself still limits the same token.
    let access = browser
        .cookies
        .iter()
        .find(|(k, _)| k == "hook0_access")
        .unwrap()
        .1
        .clone();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = reqwest::Client::new()
            .get(format!("{}/organizations", server.api))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");

    let data = tempfile::tempdir().unwrap();
    let off = support::start("serve", data.path(), &[("DISABLE_SERVING_WEBAPP", "true")]);
    let base = off.api.trim_end_matches("/api/v1").to_owned();
    let login = reqwest::get(format!("{base}/login")).await.unwrap();
    assert_eq!(login.status(), 404);
    assert_eq!(
        reqwest::get(format!("{}/instance", off.api))
            .await
            .unwrap()
            .status(),
        200
    );
}
