// Package eir is the domain of the Equipment Identity Register: equipment
// identities (IMEI, IMEISV, TAC), the lists they can be on, and the decision
// engine that turns the entries matching a query into an Equipment-Status.
//
// It owns the normalisation rule shared by list entries and live queries (the
// key is always the 14-digit TAC+SNR), the precedence of rule kinds and the
// policies for unknown equipment and store failures.
//
// Package eir imports only the standard library. Transports (diameter, n5g),
// stores (redisstore, memstore) and provisioning import eir, never the
// reverse. Logging and metrics live in those adapters.
package eir
