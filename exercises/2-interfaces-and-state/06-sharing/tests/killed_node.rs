//! A logic node holding a customer's session and cart is killed. What the customer finds on
//! the surviving nodes is what the policy shared, and nothing more.
//!
//! Each test logs Ada in through n1 and fills her cart there (the healthy path: every write
//! acknowledged, its copies named in `x-copied-to`), kills n1, and asks n2 and n3 for her
//! session and her cart.

mod common;

use common::{Shop, start};
use harness::block_on;

/// What Ada puts in her cart, in order.
const ITEMS: [&str; 3] = ["book", "lamp", "tea"];

/// The peers of n1: where its copies go, and where Ada goes once n1 is dead.
const SURVIVORS: [&str; 2] = ["n2", "n3"];

#[test]
fn share_everything_keeps_the_sessions_and_carts_of_a_killed_node() {
    let cluster = start("everything", "union");
    block_on(async {
        let shop = Shop::new(&cluster);
        let login = shop.login("n1", "s-ada", "ada").await;
        assert_eq!(
            login.copied_to, SURVIVORS,
            "share everything: the login must be copied to n2 and n3 before it is acknowledged"
        );
        for item in ITEMS {
            let added = shop.add("n1", "ada", item).await;
            assert_eq!(
                added.copied_to, SURVIVORS,
                "share everything: the add of {item} must be copied to n2 and n3 before it is acknowledged"
            );
        }
        assert_eq!(shop.cart("n1", "ada").await, ITEMS);

        cluster.kill("n1").expect("kill n1");
        for via in SURVIVORS {
            let session = shop.session(via, "s-ada").await;
            assert_eq!(
                session.map(|s| s.user).as_deref(),
                Some("ada"),
                "share everything: Ada's session must survive n1 on {via}"
            );
            assert_eq!(
                shop.cart(via, "ada").await,
                ITEMS,
                "share everything: Ada's cart must survive n1 on {via}, every acknowledged add in order"
            );
        }
        // Ada shops on at n2: its copy goes to n3; n1 is dead and refuses it at once.
        let added = shop.add("n2", "ada", "pen").await;
        assert_eq!(added.value, ["book", "lamp", "tea", "pen"]);
        assert_eq!(
            added.copied_to,
            ["n3"],
            "with n1 dead, n2 copies to n3 only"
        );
    });
}

#[test]
fn share_something_keeps_the_sessions_and_loses_the_carts_of_a_killed_node() {
    let cluster = start("something", "union");
    block_on(async {
        let shop = Shop::new(&cluster);
        let login = shop.login("n1", "s-ada", "ada").await;
        assert_eq!(
            login.copied_to, SURVIVORS,
            "share something: sessions are shared, so the login must be copied to n2 and n3"
        );
        for item in ITEMS {
            let added = shop.add("n1", "ada", item).await;
            assert!(
                added.copied_to.is_empty(),
                "share something: carts are not shared, yet the add of {item} was copied to {:?}",
                added.copied_to
            );
        }
        assert_eq!(shop.cart("n1", "ada").await, ITEMS);
        for peer in SURVIVORS {
            assert!(
                shop.holds_session(peer, "s-ada").await,
                "{peer} must hold its copy of Ada's session"
            );
            assert!(
                shop.own_copy(peer, "ada").await.is_empty(),
                "share something: {peer} must hold no copy of Ada's cart"
            );
        }

        cluster.kill("n1").expect("kill n1");
        for via in SURVIVORS {
            let session = shop.session(via, "s-ada").await;
            assert_eq!(
                session.map(|s| s.user).as_deref(),
                Some("ada"),
                "share something: Ada's session must survive n1 on {via}: she stays logged in"
            );
            assert!(
                shop.cart(via, "ada").await.is_empty(),
                "share something: Ada's cart lived on n1 alone and died with it, yet {via} has one"
            );
        }
    });
}

#[test]
fn share_nothing_loses_the_sessions_and_carts_of_a_killed_node() {
    let cluster = start("nothing", "union");
    block_on(async {
        let shop = Shop::new(&cluster);
        let login = shop.login("n1", "s-ada", "ada").await;
        assert!(
            login.copied_to.is_empty(),
            "share nothing: the login was copied to {:?}",
            login.copied_to
        );
        for item in ITEMS {
            let added = shop.add("n1", "ada", item).await;
            assert!(
                added.copied_to.is_empty(),
                "share nothing: the add of {item} was copied to {:?}",
                added.copied_to
            );
        }
        assert_eq!(shop.cart("n1", "ada").await, ITEMS);
        assert_eq!(
            shop.session("n1", "s-ada").await.map(|s| s.user).as_deref(),
            Some("ada")
        );
        // Only n1 knows Ada: the load balancer must send her back there (sticky sessions).
        assert_eq!(
            shop.session("n2", "s-ada").await,
            None,
            "share nothing: n2 must not know a session n1 took"
        );

        cluster.kill("n1").expect("kill n1");
        for via in SURVIVORS {
            assert_eq!(
                shop.session(via, "s-ada").await,
                None,
                "share nothing: Ada's session died with n1, yet {via} knows it"
            );
            assert!(
                shop.cart(via, "ada").await.is_empty(),
                "share nothing: Ada's cart died with n1, yet {via} has one"
            );
        }
    });
}
