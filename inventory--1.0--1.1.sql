/* inventory--1.0--1.1.sql: update the inventory extension from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.1'" to load this file. \quit

