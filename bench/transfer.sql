-- bench/transfer.sql: transfers per second (pgbench), after
-- bench/transfer_setup.sql.  One transfer of 1 unit of a random sku
-- between two different random warehouses per run:
--   -D transit=0  immediate (one transaction)
--   -D transit=1  in transit, then received (two transactions)
-- -D keys=N must match the setup's (default 10000); fewer keys, more
-- contention on the level rows.  See README, "Transfers", for the command.
\set k random(0, :keys - 1)
\set a random(1, 4)
\set d random(1, 3)
\set b 1 + (:a - 1 + :d) % 4
\if :transit
SELECT id AS tid FROM inventory_transfer('TRB-' || :k, ('00000000-0000-4000-8000-00000000000' || :a)::uuid,
                                         ('00000000-0000-4000-8000-00000000000' || :b)::uuid, 1,
                                         in_transit => true) \gset
SELECT state FROM inventory_receive_transfer(:tid);
\else
SELECT state FROM inventory_transfer('TRB-' || :k, ('00000000-0000-4000-8000-00000000000' || :a)::uuid,
                                     ('00000000-0000-4000-8000-00000000000' || :b)::uuid, 1);
\endif
