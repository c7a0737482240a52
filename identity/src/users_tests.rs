use super::*;

#[test]
fn email_is_trimmed_and_lower_cased() {
    assert_eq!(
        Email::parse("  Ada.Lovelace@Example.COM ")
            .unwrap()
            .as_str(),
        "ada.lovelace@example.com"
    );
}

#[test]
fn plausible_addresses_are_accepted() {
    for good in [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'neil@example.ie",
        "x_y-z@a-b.example.com",
    ] {
        assert!(Email::parse(good).is_ok(), "{good} should be accepted");
    }
}

#[test]
fn implausible_addresses_are_refused() {
    for bad in [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@b.c",
        "a b@example.com",
        "a@@example.com",
        ".a@example.com",
        "a..b@example.com",
        "a.@example.com",
        "a@-x.com",
        "a@x..com",
        "a@x.c0m",
        "a@example.com.",
        "a@exa mple.com",
        "<a>@example.com",
    ] {
        assert!(
            matches!(Email::parse(bad), Err(ApiError::InvalidEmail)),
            "{bad:?} should be refused"
        );
    }
}

#[test]
fn email_longer_than_254_characters_is_refused() {
    let domain = [
        "b".repeat(60),
        "c".repeat(60),
        "d".repeat(60),
        "com".to_owned(),
    ]
    .join(".");
    let at_limit = format!("{}@ee.{domain}", "a".repeat(64));
    assert_eq!(at_limit.len(), 254);
    assert!(Email::parse(&at_limit).is_ok());
    let over = format!("{}@eee.{domain}", "a".repeat(64));
    assert!(matches!(Email::parse(&over), Err(ApiError::InvalidEmail)));
}

#[test]
fn name_is_trimmed_and_between_1_and_256_characters() {
    assert_eq!(Name::parse("  Ada ").unwrap().as_str(), "Ada");
    assert!(Name::parse("   ").is_err());
    assert!(Name::parse(&"é".repeat(256)).is_ok());
    assert!(matches!(
        Name::parse(&"n".repeat(257)),
        Err(ApiError::Validation(_))
    ));
}

#[test]
fn password_is_8_to_128_characters() {
    let parse = |s: &str| Password::parse(SecretString::from(s));
    assert!(matches!(parse("1234567"), Err(ApiError::PasswordTooShort)));
    assert!(parse("12345678").is_ok());
    assert!(
        parse(&"ü".repeat(128)).is_ok(),
        "characters are counted, not bytes"
    );
    assert!(matches!(
        parse(&"p".repeat(129)),
        Err(ApiError::PasswordTooLong)
    ));
}

#[test]
fn password_debug_is_redacted() {
    let password = Password::parse(SecretString::from("correct horse battery")).unwrap();
    let shown = format!("{password:?}");
    assert!(!shown.contains("horse"), "{shown}");
}

#[test]
fn a_profile_change_checks_the_name_and_must_change_something() {
    let change = ProfileChange::parse(Some("  Ada  "), None, false).unwrap();
    assert_eq!(change.name.unwrap().as_str(), "Ada");
    assert_eq!(change.image, None);
    let removal = ProfileChange::parse(None, Some(None), false).unwrap();
    assert_eq!((removal.name, removal.image), (None, Some(None)));
    assert!(matches!(
        ProfileChange::parse(None, None, false),
        Err(ApiError::Validation(_))
    ));
    assert!(matches!(
        ProfileChange::parse(Some(" "), None, false),
        Err(ApiError::Validation(_))
    ));
    assert!(matches!(
        ProfileChange::parse(Some(&"n".repeat(257)), None, false),
        Err(ApiError::Validation(_))
    ));
}

#[test]
fn the_email_cannot_be_changed_through_a_profile_change() {
    assert!(matches!(
        ProfileChange::parse(Some("Ada"), None, true),
        Err(ApiError::EmailCanNotBeUpdated)
    ));
    assert!(matches!(
        ProfileChange::parse(None, None, true),
        Err(ApiError::EmailCanNotBeUpdated)
    ));
}
