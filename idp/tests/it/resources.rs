//! Resource indicators (RFC 8707): access tokens for a registered API carry it as their
//! audience and only the scopes it accepts; only the clients it names may ask.

use idp::domain::oidc::resources::{self, Resource};

use crate::both_backends;
use crate::support::*;

const GRADES: &str = "https://grades.example/api";

/// The claims of a JWT, unverified (the signature is the STS's own; checked elsewhere).
fn claims_of(jwt: &str) -> serde_json::Value {
    jsonwebtoken::dangerous::insecure_decode(jwt)
        .map(|t| t.claims)
        .unwrap()
}

async fn tokens_for_a_registered_api(backend: Backend) {
    let server = TestServer::start(backend).await;
    {
        let mut conn = server.idp.conn().unwrap();
        let api = Resource {
            uri: GRADES.into(),
            name: "Grades".into(),
            scopes: vec!["school".into(), "profile".into()],
            clients: vec!["school-app".into()],
        };
        resources::register(&mut conn, &api, server.idp.now()).unwrap();
        let timetable = Resource {
            uri: "https://timetable.example/api".into(),
            name: "Timetable".into(),
            scopes: vec!["school".into()],
            clients: vec!["mobile-app".into()],
        };
        resources::register(&mut conn, &timetable, server.idp.now()).unwrap();
    }
    // client_credentials to the API: its audience, a scope it accepts.
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", GRADES),
            ("scope", "school"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let access = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], GRADES);
    assert_eq!(access["scope"], "school");
    // A scope the API does not accept; an unregistered resource.
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", GRADES),
            ("scope", "phone"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://other.example/api"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    // Without a resource: the issuer, as before.
    let (_, body) = token_call(&server.base, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        server.base
    );

    // A user's code redeemed for the API: its audience, the grant's scopes it accepts; such
    // a token is not UserInfo's.
    let url = authorize_url(&server, "openid profile email", "&state=st");
    let back = login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("resource", GRADES),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let access = claims_of(token);
    assert_eq!(access["aud"], GRADES);
    assert_eq!(access["scope"], "profile");
    assert!(
        body["id_token"].is_string(),
        "the ID token is the app's, as ever"
    );
    let info = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 401);

    // Named in the authorization request: the code's tokens are for it; the token request
    // may name it again, not another.
    let url = authorize_url(
        &server,
        "openid profile",
        &format!("&state=st&resource={}", urlencode(GRADES)),
    );
    let back = login_through(&browser(), &server, &url, USERNAME, PASSWORD).await;
    let code = query_param(&back, "code").unwrap();
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap())["aud"],
        GRADES
    );
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("resource", "https://timetable.example/api"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let url = authorize_url(
        &server,
        "openid",
        "&state=st&resource=https%3A%2F%2Fnowhere.example%2Fapi",
    );
    let resp = browser().get(&url).send().await.unwrap();
    let to = location(&resp);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_target"),
        "{to}"
    );

    // An API open to another client only.
    {
        let mut conn = server.idp.conn().unwrap();
        let api = Resource {
            uri: "https://timetable.example/api".into(),
            name: "Timetable".into(),
            scopes: vec!["school".into()],
            clients: vec!["mobile-app".into()],
        };
        resources::register(&mut conn, &api, server.idp.now()).unwrap();
    }
    let (status, body) = token_call(
        &server.base,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://timetable.example/api"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
}
both_backends!(tokens_for_a_registered_api);
