package config

import "time"

// Default returns the configuration eird runs with when neither the file nor
// the environment sets a key. Every call returns fresh slices, so callers may
// modify the result freely.
//
// The default has no Diameter peers and allow_any_peer false, so it does not
// pass Validate on its own: the operator must list the peers or opt in to
// accepting every peer.
func Default() Config {
	return Config{
		Diameter: Diameter{
			Listen:             "127.0.0.1:3868",
			Transport:          "tcp",
			OriginHost:         "eir.localdomain",
			OriginRealm:        "localdomain",
			HostIPAddresses:    nil,
			VendorID:           0,
			ProductName:        "eird",
			WatchdogInterval:   30 * time.Second,
			CERTimeout:         10 * time.Second,
			RequestTimeout:     1 * time.Second,
			WriteTimeout:       5 * time.Second,
			DisconnectTimeout:  5 * time.Second,
			MaxMessageSize:     65536,
			MaxInflightPerPeer: 256,
			DuplicatePeer:      "allow",
			AllowAnyPeer:       false,
			Peers:              nil,
			TLS:                DiameterTLS{Listen: "127.0.0.1:5658", MinVersion: "1.2"},
		},
		Redis: Redis{
			Mode:         "standalone",
			Addresses:    []string{"127.0.0.1:6379"},
			DB:           0,
			DialTimeout:  2 * time.Second,
			ReadTimeout:  1 * time.Second,
			WriteTimeout: 1 * time.Second,
			PoolSize:     32,
		},
		Store: Store{
			KeyPrefix:            "eir:",
			VersionGrace:         60 * time.Second,
			JanitorInterval:      10 * time.Second,
			BuildLease:           10 * time.Minute,
			ExpirySweep:          time.Minute,
			Replica:              true,
			ReplicaRefresh:       100 * time.Millisecond,
			ReplicaMax:           200_000_000,
			ReplicaFilter:        true,
			MaxStale:             time.Hour,
			SnapshotDir:          "/var/lib/eird",
			OverlayMax:           10_000,
			WriteReplicasTimeout: time.Second,
		},
		Policy: Policy{
			UnknownEquipment: "unknown",
			OnStoreError:     "reject",
		},
		Admin: Admin{
			Listen:       "127.0.0.1:9468",
			MaxBodyBytes: 256 << 20,
		},
		Log: Log{
			Level:  "info",
			Format: "json",
		},
		Sync: Sync{
			LockTTL: 30 * time.Second,
		},
		Guards: Guards{
			MinSnapshotRatio: 0.75,
			MaxUnblocks:      10_000,
			MaxUnblockRatio:  0.01,
			RatioFloor:       100,
		},
		N5g: N5g{
			RequestTimeout: time.Second,
			MaxInflight:    10_000,
			OAuth:          OAuth{Audience: []string{"5G_EIR"}, Scope: "n5g-eir-eic", Leeway: 30 * time.Second},
		},
		NRF: NRF{
			Heartbeat: 10 * time.Second,
			Timeout:   5 * time.Second,
		},
		Audit: Audit{
			MaxRecords: 1_000_000,
		},
		Events: Events{
			Enabled:      true,
			StreamMaxLen: 100_000,
			QueueSize:    10_000,
			Webhook:      Webhook{Timeout: 5 * time.Second, Retries: 3},
		},
		Export: defaultExport(),
		Observe: Observe{
			Enabled:            true,
			Retention:          180 * 24 * time.Hour, // DIRBS lookback_days
			Interfaces:         []string{"s13", "n5g"},
			Sample:             1,
			MinInterval:        60 * time.Second,
			MaxPairs:           256,
			Buckets:            1 << 16,
			DedupeEntries:      1_000_000,
			MaxWritesPerSecond: 5000,
			QueueSize:          8192,
			// DIRBS-Core's example configuration of its duplicate dimensions.
			Rules: ObserveRules{DuplicatePeriodDays: 30, DuplicateThreshold: 10, DailyAvgThreshold: 4.0, MinSeenDays: 5,
				ConcurrentWindow: 5 * time.Minute},
			Detect: ObserveDetect{List: "grey"},
			Events: ObserveEvents{PerIMSIInterval: 10 * time.Minute},
		},
	}
}
