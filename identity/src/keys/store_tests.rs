use super::*;
use crate::keys::schedule::KeyMeta;

#[test]
fn a_private_key_is_written_0600_and_reads_back() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path());
    let key = PrivateKey::generate();
    keys.write_private_key(&key).expect("written");
    let mode = fs::metadata(keys.pem_path(key.kid()))
        .expect("exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        keys.read_private_key(key.kid()).expect("reads back").kid(),
        key.kid()
    );
}

#[test]
fn a_pem_filed_under_another_kid_is_refused() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path());
    let key = PrivateKey::generate();
    keys.write_private_key(&key).expect("written");
    let other = Kid::of_public_key(&[9; 32]);
    fs::rename(keys.pem_path(key.kid()), keys.pem_path(&other)).expect("renamed");
    let err = keys.read_private_key(&other).expect_err("mismatch refused");
    assert!(matches!(err, KeyError::KidMismatch { .. }), "{err}");
}

#[test]
fn keys_json_is_replaced_whole_and_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path());
    let mut schedule = Schedule::empty();
    schedule
        .keys
        .push(KeyMeta::new(Kid::of_public_key(&[1; 32]), 0, 0));
    keys.write_schedule(&schedule).expect("written");
    keys.write_schedule(&schedule).expect("written again");
    assert_eq!(keys.read_schedule().expect("reads back"), schedule);
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("lists")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keys.json")]);
}

#[test]
fn the_fingerprint_changes_when_keys_json_is_rewritten() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path());
    keys.write_schedule(&Schedule::empty()).expect("written");
    let before = keys.fingerprint();
    assert_eq!(before, keys.fingerprint());
    keys.write_schedule(&Schedule::empty()).expect("rewritten");
    assert_ne!(before, keys.fingerprint());
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_group_readable_key_is_refused_unless_keys_group_readable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path());
    let key = PrivateKey::generate();
    keys.write_private_key(&key).expect("written");
    chmod(&keys.pem_path(key.kid()), 0o640);
    let err = keys
        .read_private_key(key.kid())
        .expect_err("group-readable refused by default");
    assert!(
        matches!(err, KeyError::InsecurePermissions { mode: 0o640, .. }),
        "{err}"
    );
    assert!(keys.check_pem_permissions().is_err());
    assert_eq!(keys.problems().len(), 1, "{:?}", keys.problems());

    let allowed = keys.group_readable(true);
    assert_eq!(
        allowed.read_private_key(key.kid()).expect("allowed").kid(),
        key.kid()
    );
    allowed.check_pem_permissions().expect("allowed");
    assert!(allowed.problems().is_empty(), "{:?}", allowed.problems());
    // A Secret volume's usual modes: 0440 and 0400.
    chmod(&allowed.pem_path(key.kid()), 0o440);
    allowed.read_private_key(key.kid()).expect("0440 allowed");
}

#[test]
fn an_others_readable_key_is_refused_even_with_keys_group_readable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let keys = KeyDir::new(dir.path()).group_readable(true);
    let key = PrivateKey::generate();
    keys.write_private_key(&key).expect("written");
    for mode in [0o604, 0o644, 0o444] {
        chmod(&keys.pem_path(key.kid()), mode);
        let err = keys
            .read_private_key(key.kid())
            .expect_err("others-readable refused");
        assert!(
            matches!(err, KeyError::InsecurePermissions { .. }),
            "{mode:o}: {err}"
        );
        assert!(keys.check_pem_permissions().is_err(), "{mode:o}");
        assert_eq!(keys.problems().len(), 1, "{mode:o}: {:?}", keys.problems());
    }
}

/// The kubelet's Secret volume: `keys.json` and `<kid>.pem` are links to `..data/<name>`,
/// `..data` a link to a timestamped directory it replaces on an update.
#[test]
fn the_fingerprint_sees_a_secret_volume_update_through_its_links() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("a temp dir");
    let first = dir.path().join("..2026_01_01_00_00_00.1");
    let second = dir.path().join("..2026_01_01_00_01_00.2");
    KeyDir::new(&first).create().expect("first");
    KeyDir::new(&first)
        .write_schedule(&Schedule::empty())
        .expect("written");
    symlink(first.file_name().expect("name"), dir.path().join("..data")).expect("..data");
    symlink("..data/keys.json", dir.path().join(KEYS_JSON)).expect("keys.json link");
    let keys = KeyDir::new(dir.path());
    let before = keys.fingerprint();
    assert_eq!(
        keys.read_schedule().expect("reads through links"),
        Schedule::empty()
    );

    KeyDir::new(&second).create().expect("second");
    let mut schedule = Schedule::empty();
    schedule
        .keys
        .push(KeyMeta::new(Kid::of_public_key(&[2; 32]), 0, 0));
    KeyDir::new(&second)
        .write_schedule(&schedule)
        .expect("written");
    let tmp = dir.path().join("..data_tmp");
    symlink(second.file_name().expect("name"), &tmp).expect("tmp link");
    fs::rename(&tmp, dir.path().join("..data")).expect("swapped");
    assert_ne!(before, keys.fingerprint());
    assert_eq!(keys.read_schedule().expect("new schedule"), schedule);
}
