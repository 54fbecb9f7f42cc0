-- run-demo: scaling out.  Two databases of this cluster stand for two
-- nodes (node 0 holds the merchant acme, node 1 bolt), a third is the
-- router (inventory_router, on PL/Proxy).  Calls go through the router
-- with the merchant first; acme is then moved to node 1 under the nose of
-- an idempotent retry.  Run by run-demo with -v host=... port=... user=...
-- password=... in the database postgres.
\set QUIET on
\pset footer off
CREATE DATABASE demo_node0;
CREATE DATABASE demo_node1;
CREATE DATABASE demo_router;

\c demo_node0
CREATE EXTENSION inventory;
SELECT inventory.inventory_set_node_id(0) \gset
INSERT INTO inventory.inventory_warehouses (uuid, name, merchant) VALUES
    ('a0000000-0000-4000-8000-00000000000a', 'Acme Leeds', 'acme');
\c demo_node1
CREATE EXTENSION inventory;
SELECT inventory.inventory_set_node_id(1) \gset
INSERT INTO inventory.inventory_warehouses (uuid, name, merchant) VALUES
    ('b0000000-0000-4000-8000-00000000000b', 'Bolt Lyon', 'bolt');

\c demo_router
SET client_min_messages = warning;
CREATE EXTENSION inventory_router CASCADE;
SELECT format('CREATE SERVER inventory_nodes FOREIGN DATA WRAPPER plproxy OPTIONS (p0 %L, p1 %L)',
              format('host=%s port=%s dbname=demo_node0', :'host', :'port'),
              format('host=%s port=%s dbname=demo_node1', :'host', :'port')) \gexec
SELECT format('CREATE USER MAPPING FOR PUBLIC SERVER inventory_nodes OPTIONS (user %L, password %L)',
              :'user', :'password') \gexec
INSERT INTO inventory_router.merchant_nodes (merchant, node) VALUES ('acme', 0), ('bolt', 1);
RESET client_min_messages;
\echo
\echo 'The router: partition p0 is node 0 (database demo_node0), p1 node 1; the map:'
SELECT merchant, node FROM inventory_router.merchant_nodes ORDER BY merchant;
SELECT * FROM inventory_router.check_nodes();

\echo 'One call per merchant through the router (each commits on its node at once):'
SELECT inventory_router.inventory_adjust('acme',
    '[{"sku": "TEE", "warehouse_uuid": "a0000000-0000-4000-8000-00000000000a", "on_hand": 40}]',
    idempotency_key => 'acme-req-1') AS acme_batch \gset
SELECT inventory_router.inventory_adjust('bolt',
    '[{"sku": "MUG", "warehouse_uuid": "b0000000-0000-4000-8000-00000000000b", "on_hand": 7}]') AS bolt_batch \gset
SELECT :acme_batch AS acme_batch, :acme_batch::bigint >> 48 AS its_node,
       :bolt_batch AS bolt_batch, :bolt_batch::bigint >> 48 AS its_node;
\echo 'inventory_wait by batch id goes to the node the id names:'
SELECT inventory_router.inventory_wait(:acme_batch) AS acme, inventory_router.inventory_wait(:bolt_batch) AS bolt;
SELECT * FROM (SELECT 'acme' AS merchant, sku, on_hand, available FROM inventory_router.inventory_get('acme')
               UNION ALL
               SELECT 'bolt', sku, on_hand, available FROM inventory_router.inventory_get('bolt')) s;

\echo 'A call for acme naming bolt''s warehouse is refused by the node (nothing queued):'
\set ON_ERROR_STOP off
\set VERBOSITY default
SELECT inventory_router.inventory_adjust('acme',
    '[{"sku": "MUG", "warehouse_uuid": "b0000000-0000-4000-8000-00000000000b", "on_hand": 1}]');
\set ON_ERROR_STOP on

\echo
\echo 'Moving acme to node 1 (pause, drain, copy with its ledger, switch the map, forget on node 0):'
CALL inventory_router.move_merchant('acme', 1);
SELECT merchant, node FROM inventory_router.merchant_nodes ORDER BY merchant;
\echo 'A client retrying its first call with the same idempotency key gets the same batch, now from node 1:'
SELECT inventory_router.inventory_adjust('acme',
    '[{"sku": "TEE", "warehouse_uuid": "a0000000-0000-4000-8000-00000000000a", "on_hand": 40}]',
    idempotency_key => 'acme-req-1') = :acme_batch AS same_batch;
\echo 'and its orders are served there:'
SELECT sku, on_hand, reserved, available FROM inventory_router.inventory_reserve('acme', 'order-1', 'TEE',
                                                 'a0000000-0000-4000-8000-00000000000a', 3);
\c demo_node1
\echo 'Node 1 now holds both merchants, and its ledger proves every row:'
SELECT w.merchant, l.sku, l.on_hand, l.reserved, l.available
  FROM inventory.inventory_levels l JOIN inventory.inventory_warehouses w ON w.uuid = l.warehouse_uuid
 ORDER BY 1, 2;
SELECT count(*) AS drift FROM inventory.inventory_verify();
\c demo_node0
SELECT count(*) AS acme_rows_left_on_node_0 FROM inventory.inventory_levels;
SELECT (SELECT count(*) FROM inventory.inventory_verify()) + (SELECT count(*) FROM inventory.inventory_levels) = 0 AS ok \gset
\if :ok
\else
\echo 'run-demo: node 0 is not empty and clean'
\quit 3
\endif
\c postgres
