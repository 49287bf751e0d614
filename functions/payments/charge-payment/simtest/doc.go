// Package simtest tests charge-payment against PostgreSQL and the real payment provider
// simulator (infra/paymentsim). It is a module of its own so that the function's module, and
// so its image build, does not depend on infra.
package simtest
