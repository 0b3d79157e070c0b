//! Diesel schema, identical for SQLite and PostgreSQL (see `migrations/`).

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_normalized -> Text,
        email -> Nullable<Text>,
        email_normalized -> Nullable<Text>,
        email_verified -> Bool,
        given_name -> Nullable<Text>,
        family_name -> Nullable<Text>,
        phone_number -> Nullable<Text>,
        locale -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        password_change_required -> Bool,
        password_expires_at -> Nullable<Timestamp>,
        kind -> Text,
        birth_date -> Nullable<Date>,
        street_address -> Nullable<Text>,
        postal_code -> Nullable<Text>,
        locality -> Nullable<Text>,
        country -> Nullable<Text>,
        nationality -> Nullable<Text>,
        sex -> Nullable<Text>,
        first_login_at -> Nullable<Timestamp>,
        legacy_password_hash -> Nullable<Text>,
        search_text -> Text,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Nullable<Binary>,
        token_endpoint_auth_method -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        id_token_signed_response_alg -> Text,
        jwks -> Nullable<Text>,
        from_config -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        organising_body_id -> Nullable<Text>,
        withheld_claims -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        frontchannel_logout_uri -> Nullable<Text>,
        require_pushed_authorization_requests -> Bool,
    }
}

diesel::table! {
    signing_keys (id) {
        id -> Text,
        alg -> Text,
        private_key -> Binary,
        encrypted -> Bool,
        public_jwk -> Text,
        created_at -> Timestamp,
        activates_at -> Timestamp,
        retires_at -> Nullable<Timestamp>,
        removed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    server_secrets (name) {
        name -> Text,
        value -> Binary,
        encrypted -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    sso_sessions (id) {
        id -> Text,
        cookie_hash -> Binary,
        user_id -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        idp -> Nullable<Text>,
    }
}

diesel::table! {
    auth_requests (id_hash) {
        id_hash -> Binary,
        client_id -> Text,
        params -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        client_id -> Text,
        user_id -> Text,
        sso_session_id -> Nullable<Text>,
        scope -> Text,
        nonce -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        idp -> Nullable<Text>,
        claims -> Nullable<Text>,
        resource -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Binary,
        grant_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Binary,
        grant_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revoked_access_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(sso_sessions -> users (user_id));
diesel::joinable!(grants -> users (user_id));
diesel::joinable!(grants -> clients (client_id));
diesel::joinable!(authorization_codes -> grants (grant_id));
diesel::joinable!(refresh_tokens -> grants (grant_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    signing_keys,
    server_secrets,
    sso_sessions,
    auth_requests,
    grants,
    authorization_codes,
    refresh_tokens,
    revoked_access_tokens,
);

diesel::table! {
    rate_limits (key) {
        key -> Text,
        window_start -> Timestamp,
        hits -> Integer,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        address -> Nullable<Text>,
        detail -> Text,
        request_id -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(rate_limits, audit_events);

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        language -> Nullable<Text>,
    }
}

diesel::table! {
    password_resets (id) {
        id -> Text,
        user_id -> Text,
        token_hash -> Binary,
        code_hash -> Binary,
        resume_request -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        purpose -> Text,
    }
}

diesel::table! {
    account_links (account_id, co_account_id) {
        account_id -> Text,
        co_account_id -> Text,
        relation -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    organising_bodies (id) {
        id -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    schools (id) {
        id -> Text,
        organising_body_id -> Text,
        name -> Text,
        data_changes -> Text,
        contact -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    school_members (user_id, school_id) {
        user_id -> Text,
        school_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(schools -> organising_bodies (organising_body_id));
diesel::joinable!(school_members -> schools (school_id));
diesel::allow_tables_to_appear_in_same_query!(organising_bodies, schools, school_members);

diesel::table! {
    terms (id) {
        id -> Text,
        organising_body_id -> Text,
        version -> Text,
        texts -> Text,
        published_at -> Timestamp,
    }
}

diesel::table! {
    terms_acceptances (user_id, terms_id) {
        user_id -> Text,
        terms_id -> Text,
        accepted_at -> Timestamp,
    }
}

diesel::table! {
    login_flows (id_hash) {
        id_hash -> Binary,
        user_id -> Text,
        request_id -> Nullable<Text>,
        steps -> Text,
        position -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        amr -> Text,
        method -> Text,
        idp -> Nullable<Text>,
    }
}

diesel::table! {
    change_requests (id) {
        id -> Text,
        user_id -> Text,
        school_id -> Text,
        message -> Text,
        created_at -> Timestamp,
        handled_at -> Nullable<Timestamp>,
        outcome -> Nullable<Text>,
        handled_by -> Nullable<Text>,
    }
}

diesel::table! {
    used_client_assertions (id_hash) {
        id_hash -> Binary,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    migration_runs (id) {
        id -> Text,
        source -> Text,
        input -> Text,
        dry_run -> Bool,
        status -> Text,
        counts -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    migrated_accounts (source, legacy_id) {
        source -> Text,
        legacy_id -> Text,
        user_id -> Text,
        legacy_username -> Text,
        legacy_username_normalized -> Text,
        row_digest -> Text,
        synced_at -> Timestamp,
        migrated_at -> Timestamp,
        run_id -> Text,
        pending_links -> Nullable<Text>,
        invited_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    migration_problems (run_id, line) {
        run_id -> Text,
        line -> Integer,
        legacy_id -> Nullable<Text>,
        identifier -> Nullable<Text>,
        outcome -> Text,
        reason -> Text,
        detail -> Text,
        record -> Text,
        organising_body_id -> Nullable<Text>,
        resolved_in -> Nullable<Text>,
    }
}

diesel::table! {
    migration_periods (organising_body_id) {
        organising_body_id -> Text,
        starts_on -> Date,
        ends_on -> Date,
        notices -> Text,
        contact -> Nullable<Text>,
    }
}

diesel::joinable!(migrated_accounts -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    migration_runs,
    migrated_accounts,
    migration_problems,
    migration_periods,
    users
);

diesel::table! {
    roles (user_id, role, scope_id) {
        user_id -> Text,
        role -> Text,
        scope_id -> Text,
        organising_body_id -> Nullable<Text>,
        school_id -> Nullable<Text>,
        granted_by -> Nullable<Text>,
        granted_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    roles,
    school_members,
    audit_events,
    account_links
);
diesel::allow_tables_to_appear_in_same_query!(schools, users);
diesel::allow_tables_to_appear_in_same_query!(schools, roles);
diesel::allow_tables_to_appear_in_same_query!(organising_bodies, roles);
diesel::allow_tables_to_appear_in_same_query!(change_requests, schools);
diesel::allow_tables_to_appear_in_same_query!(change_requests, users);
diesel::allow_tables_to_appear_in_same_query!(migrated_accounts, school_members);
diesel::allow_tables_to_appear_in_same_query!(migrated_accounts, schools);

diesel::table! {
    brands (organising_body_id) {
        organising_body_id -> Text,
        colour -> Nullable<Text>,
        logo -> Nullable<Binary>,
        logo_type -> Nullable<Text>,
        version -> Text,
        updated_at -> Timestamp,
    }
}
diesel::allow_tables_to_appear_in_same_query!(brands, organising_bodies);
diesel::allow_tables_to_appear_in_same_query!(brands, clients);
diesel::allow_tables_to_appear_in_same_query!(brands, schools);
diesel::allow_tables_to_appear_in_same_query!(brands, school_members);
diesel::allow_tables_to_appear_in_same_query!(clients, organising_bodies);

diesel::table! {
    upstream_links (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        issuer -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        linked_by -> Text,
        created_at -> Timestamp,
        last_login_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    upstream_logins (token_hash) {
        token_hash -> Binary,
        provider -> Text,
        browser_hash -> Binary,
        nonce -> Nullable<Text>,
        pkce_verifier -> Nullable<Text>,
        request_id -> Nullable<Text>,
        link_user_id -> Nullable<Text>,
        identity -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    upstream_only (organising_body_id, kind) {
        organising_body_id -> Text,
        kind -> Text,
    }
}

diesel::joinable!(upstream_links -> users (user_id));
diesel::joinable!(upstream_only -> organising_bodies (organising_body_id));
diesel::allow_tables_to_appear_in_same_query!(upstream_links, users);
diesel::allow_tables_to_appear_in_same_query!(upstream_only, organising_bodies);
diesel::allow_tables_to_appear_in_same_query!(upstream_only, schools);
diesel::allow_tables_to_appear_in_same_query!(upstream_only, school_members);

diesel::table! {
    logout_deliveries (id) {
        id -> Text,
        client_id -> Text,
        uri -> Text,
        sub -> Text,
        sid -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
        delivered_at -> Nullable<Timestamp>,
        given_up_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    pushed_requests (id_hash) {
        id_hash -> Binary,
        client_id -> Text,
        params -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    resources (uri) {
        uri -> Text,
        name -> Text,
        scopes -> Text,
        clients -> Text,
        created_at -> Timestamp,
    }
}
diesel::allow_tables_to_appear_in_same_query!(terms, terms_acceptances);
