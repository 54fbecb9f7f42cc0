-- pgbench script for test/t/013_stress.pl: reserve 1 to 5 units of a hot
-- key (sometimes a cold one) for one of 50 orders; line 'strict' with
-- allow_oversell => false (SQLSTATE IN001 when short: the wrapper counts it
-- and returns NULL), line 'loose' with allow_oversell => true.
\set k random(1, 20)
\set o random(1, 50)
\set q random(1, 5)
\set strict random(0, 1)
\set cold random(1, 20)
SELECT stress.reserve('ORD-' || :o,
                      CASE WHEN :cold = 1 THEN 'COLD-' || lpad((:k * 250)::text, 4, '0') ELSE 'HOT-' || lpad(:k::text, 2, '0') END,
                      '11111111-1111-4111-8111-111111111111', :q,
                      CASE WHEN :strict = 1 THEN 'strict' ELSE 'loose' END, :strict = 0);
