//! The SFTP gateway's user store read from S3, against moto server: the bytes of the object come
//! back unchanged; a missing object is "no store yet" (`None`), not an error; conditional
//! writes refuse a stale ETag and a create over an existing object.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use idealstack_aws::sftp::S3UserStore;
use idealstack_sftp::users::UserStoreSource;
use idealstack_testbed::Moto;

fn client(moto: &Moto) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(moto.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[test]
fn user_store_from_the_stack_bucket() {
    let moto = Moto::start();
    let document = br#"{"sites": {}}"#.to_vec();
    let setup = idealstack_aws::blocking_runtime().unwrap();
    setup.block_on(async {
        let s3 = client(&moto);
        s3.create_bucket()
            .bucket("acme-state")
            .send()
            .await
            .expect("bucket");
        s3.put_object()
            .bucket("acme-state")
            .key("sftp/users.json")
            .body(document.clone().into())
            .send()
            .await
            .expect("object");
    });

    let runtime = || idealstack_aws::blocking_runtime().unwrap();
    let store =
        S3UserStore::with_client("s3://acme-state/sftp/users.json", client(&moto), runtime())
            .unwrap();
    assert_eq!(
        UserStoreSource::name(&store),
        "s3://acme-state/sftp/users.json"
    );
    // The gateway calls fetch from a blocking thread; so does this test.
    assert_eq!(store.fetch().expect("fetch"), Some(document));

    let missing =
        S3UserStore::with_client("s3://acme-state/sftp/none.json", client(&moto), runtime())
            .unwrap();
    assert_eq!(
        missing.fetch().expect("a missing store is not an error"),
        None
    );

    // Conditional writes: create only if absent, replace only at the version read.
    use idealstack_sftp::store::{PutOutcome, UserStoreTarget};
    assert_eq!(missing.read().unwrap(), None);
    assert_eq!(missing.write_if(b"one", None).unwrap(), PutOutcome::Written);
    assert_eq!(
        missing.write_if(b"two", None).unwrap(),
        PutOutcome::Conflict
    );
    let v1 = missing.read().unwrap().unwrap();
    assert_eq!(v1.bytes, b"one");
    assert_eq!(
        missing.write_if(b"three", Some(&v1.version)).unwrap(),
        PutOutcome::Written
    );
    assert_eq!(
        missing.write_if(b"four", Some(&v1.version)).unwrap(),
        PutOutcome::Conflict
    );
    assert_eq!(missing.fetch().unwrap().as_deref(), Some(&b"three"[..]));

    let gone =
        S3UserStore::with_client("s3://no-such-bucket/k.json", client(&moto), runtime()).unwrap();
    let err = gone.fetch().unwrap_err().to_string();
    assert!(
        err.contains("cannot fetch the user store s3://no-such-bucket/k.json"),
        "{err}"
    );

    assert!(S3UserStore::with_client("acme-state/users.json", client(&moto), runtime()).is_err());
    assert!(S3UserStore::with_client("s3://bucket-only", client(&moto), runtime()).is_err());
}
