//! The throwaway PostgreSQL the tests start themselves (tests/common/pg.rs):
//! it starts, each test gets a database of its own, and it answers.

mod common;

#[tokio::test]
async fn each_test_gets_its_own_database() {
    let Some(pg) = common::pg::server() else {
        return;
    };
    let a = pg.fresh_database().await;
    let b = pg.fresh_database().await;
    assert_ne!(a, b);
    for url in [a, b] {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT current_database(), 1 + 1", &[])
            .await
            .unwrap();
        let db: String = row.get(0);
        let two: i32 = row.get(1);
        assert!(url.contains(&format!("/{db}?")), "{url} vs {db}");
        assert_eq!(two, 2);
    }
}
