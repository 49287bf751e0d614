// Package simtest tests send-notification against PostgreSQL, the real SMTP catcher
// (infra/mailsim) and the SMS provider simulator (infra/smssim). It is a module of its own so
// that the function's module, and so its image build, does not depend on infra.
package simtest
