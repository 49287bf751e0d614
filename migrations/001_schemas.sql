-- One schema per bounded context. Functions of a context touch only its schema, except where a
-- migration or function README says otherwise.
CREATE SCHEMA catalog;
CREATE SCHEMA customers;
CREATE SCHEMA identity;
CREATE SCHEMA orders;
CREATE SCHEMA inventory;
CREATE SCHEMA payments;
CREATE SCHEMA notifications;

-- Trigram indexes back the catalog's name search.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

---- create above / drop below ----

DROP SCHEMA notifications CASCADE;
DROP SCHEMA payments CASCADE;
DROP SCHEMA inventory CASCADE;
DROP SCHEMA orders CASCADE;
DROP SCHEMA identity CASCADE;
DROP SCHEMA customers CASCADE;
DROP SCHEMA catalog CASCADE;
