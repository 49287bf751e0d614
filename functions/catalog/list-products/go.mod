module github.com/faas-commerce/faas-commerce/functions/catalog/list-products

go 1.26

require (
	github.com/faas-commerce/faas-commerce/shared v0.0.0
	github.com/openfaas/templates-sdk/go-http v0.0.0-20220408082716-5981c545cb03
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/sethvargo/go-envconfig v1.4.3 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)

replace (
	github.com/faas-commerce/faas-commerce/migrations => ../../../migrations
	github.com/faas-commerce/faas-commerce/shared => ../../../shared
)
