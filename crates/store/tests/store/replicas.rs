//! Replicas on one PostgreSQL database: what one changes, the other's caches drop within a
//! second, also after the other lost its listening connection.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deis_domain::store::AppScope;
use deis_domain::{PageSel, Store};
use deis_store::{Change, DieselStore};
use diesel::{Connection, PgConnection, RunQueryDsl};
use tokio::sync::broadcast;

use crate::{TestDb, fixtures};

/// How soon a change through one replica must show through the other.
const WITHIN: Duration = Duration::from_secs(1);

/// Two stores on one fresh database, both with their caches in use.
async fn replicas() -> Option<(TestDb, Arc<DieselStore>, Arc<DieselStore>)> {
    let db = TestDb::postgres()?;
    let url = db.url.clone();
    let other = tokio::task::spawn_blocking(move || DieselStore::open(&url, 4))
        .await
        .expect("open task")
        .expect("second replica opens");
    let (a, b) = (db.store(), Arc::new(other));
    for store in [&a, &b] {
        caching(store, Duration::from_secs(10)).await;
    }
    Some((db, a, b))
}

/// Waits until the store's cache is in use (its listener is connected).
async fn caching(store: &DieselStore, within: Duration) {
    let start = Instant::now();
    while store.app_lists_version().is_none() {
        assert!(
            start.elapsed() < within,
            "the replica's cache did not come on within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `read` until it is true, failing after [`WITHIN`]; returns how long it took.
async fn within_a_second<F, Fut>(what: &str, mut read: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if read().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WITHIN,
            "{what}: not visible through the other replica within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn app_ids(store: &DieselStore, user: &str) -> Vec<String> {
    let page = store
        .list_apps(AppScope::VisibleTo(user.to_owned()), PageSel::Number(1))
        .await
        .expect("apps");
    page.items.into_iter().map(|a| a.id).collect()
}

/// Waits for `want` on the feed, skipping other changes.
async fn heard(feed: &mut broadcast::Receiver<Change>, want: &Change) {
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match feed.recv().await {
                Ok(change) if change == *want => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("feed closed: {e}"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "{want:?} never reached the subscriber");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_replica_shows_through_the_other_within_a_second() {
    let Some((_db, a, b)) = replicas().await else {
        return;
    };
    let alice = fixtures::user(&*b, "alice").await;
    let mut feed = a.subscribe();
    let mut slowest = Duration::ZERO;
    for round in 0..10 {
        // Warm the caches of `a` with what is about to change.
        let before = app_ids(&a, "alice").await;
        let seen = a.user_by_id(alice.id).await.expect("user");
        assert!(a.app_lists_version().is_some(), "round {round}: cache off");

        let id = format!("round-{round}");
        fixtures::app(&*b, &id, "alice").await;
        slowest = slowest.max(
            within_a_second("a new app", || async {
                app_ids(&a, "alice").await.contains(&id)
            })
            .await,
        );
        assert_eq!(app_ids(&a, "alice").await.len(), before.len() + 1);

        let latest = b.latest_release(&id).await.expect("release");
        let step = fixtures::next_release(&latest, vec![]);
        let value = step.release.version.to_string();
        b.commit_release(step).await.expect("config change");
        slowest = slowest.max(
            within_a_second("a config change", || async {
                let release = a.latest_release(&id).await.expect("release");
                let config = a.config(release.config).await.expect("config");
                config.values.get("V").and_then(|v| v.as_str()) == Some(value.as_str())
            })
            .await,
        );
        heard(&mut feed, &Change::Routes(id.clone())).await;

        let changed = b
            .set_password(alice.id, &format!("hash-{round}"))
            .await
            .expect("password");
        assert_eq!(changed.token_generation, seen.token_generation + 1);
        slowest = slowest.max(
            within_a_second("a password change (old tokens revoked)", || async {
                a.user_by_id(alice.id).await.expect("user").token_generation
                    == changed.token_generation
            })
            .await,
        );
    }
    eprintln!("slowest propagation over 10 rounds: {slowest:?}");
}

/// Ends the listening sessions of every replica on the store's database.
fn kill_listeners(url: &str) -> usize {
    let mut admin = PgConnection::establish(url).expect("connects");
    #[derive(diesel::QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        killed: bool,
    }
    let killed: Vec<Killed> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
         WHERE application_name = 'deis-listener' AND datname = current_database()",
    )
    .load(&mut admin)
    .expect("terminate");
    killed.iter().filter(|k| k.killed).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_lost_its_listener_serves_nothing_stale() {
    let Some((db, a, b)) = replicas().await else {
        return;
    };
    let alice = fixtures::user(&*b, "alice").await;
    let mut feed = a.subscribe();
    for round in 0..3 {
        let before = app_ids(&a, "alice").await;
        let seen = a.user_by_id(alice.id).await.expect("user");
        assert!(a.app_lists_version().is_some(), "round {round}: cache off");

        let url = db.url.clone();
        let killed = tokio::task::spawn_blocking(move || kill_listeners(&url))
            .await
            .expect("kill task");
        assert_eq!(killed, 2, "both replicas' listeners were terminated");
        // These notices reach no listener of `a`.
        let id = format!("unheard-{round}");
        fixtures::app(&*b, &id, "alice").await;
        let changed = b
            .set_password(alice.id, &format!("hash-{round}"))
            .await
            .expect("password");
        assert_eq!(changed.token_generation, seen.token_generation + 1);

        within_a_second("an app created while the listener was down", || async {
            app_ids(&a, "alice").await.contains(&id)
        })
        .await;
        within_a_second("a password changed while the listener was down", || async {
            a.user_by_id(alice.id).await.expect("user").token_generation == changed.token_generation
        })
        .await;
        // And it stays so: nothing stale comes back once the listener is back.
        heard(&mut feed, &Change::Everything).await;
        caching(&a, Duration::from_secs(10)).await;
        let ids = app_ids(&a, "alice").await;
        assert!(
            ids.contains(&id) && ids.len() == before.len() + 1,
            "{ids:?}"
        );
        assert_eq!(
            a.user_by_id(alice.id).await.expect("user").token_generation,
            changed.token_generation
        );

        // The cache works again: a new change still shows within a second.
        let next = format!("heard-{round}");
        fixtures::app(&*b, &next, "alice").await;
        within_a_second("an app created after reconnecting", || async {
            app_ids(&a, "alice").await.contains(&next)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pooled_connections_that_died_while_idle_are_replaced() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let store = db.store();
    let alice = fixtures::user(&*store, "alice").await;
    let url = db.url.clone();
    let killed = tokio::task::spawn_blocking(move || {
        let mut admin = PgConnection::establish(&url).expect("connects");
        #[derive(diesel::QueryableByName)]
        struct Killed {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            killed: bool,
        }
        let killed: Vec<Killed> = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND application_name <> 'deis-listener'",
        )
        .load(&mut admin)
        .expect("terminate");
        killed.iter().filter(|k| k.killed).count()
    })
    .await
    .expect("kill task");
    assert!(
        killed >= 4,
        "the pool's connections were terminated ({killed})"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..8 {
        let user = store
            .user_by_name("alice")
            .await
            .expect("a live connection");
        assert_eq!(user.id, alice.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_committed_writes_are_announced() {
    let Some((_db, a, b)) = replicas().await else {
        return;
    };
    let mut feed = a.subscribe();
    fixtures::user(&*b, "alice").await;
    fixtures::app(&*b, "told", "alice").await;
    // The creation's notice names the app, then the lists.
    heard(&mut feed, &Change::AppLists).await;
    let latest = b.latest_release("told").await.expect("v1");
    let mut refused = fixtures::next_release(&latest, vec![]);
    refused.release.version = 7;
    fixtures::assert_conflict(b.commit_release(refused).await, "version");
    let heard_nothing = tokio::time::timeout(Duration::from_millis(300), feed.recv()).await;
    assert!(
        heard_nothing.is_err(),
        "a rolled-back write was announced: {heard_nothing:?}"
    );
    b.commit_release(fixtures::next_release(&latest, vec![]))
        .await
        .expect("v2");
    heard(&mut feed, &Change::Routes("told".into())).await;
}
