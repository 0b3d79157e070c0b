ALTER TABLE clients DROP COLUMN organising_body_id;
DROP TABLE brands;
