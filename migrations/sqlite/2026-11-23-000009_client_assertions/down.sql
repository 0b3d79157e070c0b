DROP TABLE used_client_assertions;
