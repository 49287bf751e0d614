// The process of one faas-commerce function. build.sh generates handle.go, which binds handle
// to the function module's Handle; everything else (health endpoint, body limit, graceful
// shutdown on SIGTERM, logs) is shared/fn's.
package main

import "github.com/faas-commerce/faas-commerce/shared/fn"

func main() {
	fn.Main(handle)
}
