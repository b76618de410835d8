// Package syslogsink streams audit checkpoints to a syslog server as RFC
// 5424 messages, over UDP (one datagram each, RFC 5426) or TCP (octet
// counting framing, RFC 6587 section 3.4.1), with the standard library
// only. The message is the checkpoint's signed JSON, so the receiving log
// holds what `moat audit verify` needs to detect a truncated chain.
//
// Limits: no TLS (RFC 5425); UDP delivery is not confirmed.
package syslogsink
