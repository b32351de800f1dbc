//! A save that fails half-way through writing (as on a full disk) leaves the old file and the
//! old snapshot exactly as they were. Its own test binary: the file-size limit used to make the
//! write fail is process-wide, and root (CI) ignores permission-based tricks.

use std::fs;

use reveille::store::{ConfigStore, TxError};

fn limit_file_size(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain libc calls with valid arguments; SIGXFSZ would otherwise kill the test.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[tokio::test]
async fn a_write_that_runs_out_of_space_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let store = ConfigStore::open(&path, None).unwrap();
    let before = fs::read(&path).unwrap();

    limit_file_size(100);
    let failed = store
        .transaction(None, |c| {
            c.web.title = "a title that will never reach the disk".into();
            Ok(())
        })
        .await;
    limit_file_size(libc::RLIM_INFINITY);

    let Err(TxError::Save { source, .. }) = failed else {
        panic!("expected a save error, got {failed:?}");
    };
    assert_eq!(source.raw_os_error(), Some(libc::EFBIG), "{source}");
    assert_eq!(fs::read(&path).unwrap(), before, "the old file is intact");
    assert_eq!(store.snapshot().revision, 1);
    assert_eq!(store.snapshot().config.web.title, "Reveille");
    let temps: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(
        temps.is_empty(),
        "the half-written temp file was left: {temps:?}"
    );

    let saved = store
        .transaction(None, |c| {
            c.web.title = "space again".into();
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(saved.revision, 2);
}
