-- pgbench script for test/t/013_stress.pl: cancel all (NULL) or 1 to 3
-- units of an order's reservation of a hot key (SQLSTATE IN002 when there
-- is none or less: the wrapper counts it and returns NULL).
\set k random(1, 20)
\set o random(1, 50)
\set q random(0, 3)
SELECT stress.release('ORD-' || :o, 'HOT-' || lpad(:k::text, 2, '0'),
                      '11111111-1111-4111-8111-111111111111', NULLIF(:q, 0));
