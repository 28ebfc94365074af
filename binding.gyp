{
  "targets": [
    {
      "target_name": "vmbootfail",
      "sources": [
        "native/addon.cc",
        "native/work_thread.cc",
        "native/xenstore.cc",
        "native/xenstat.cc",
        "native/disk.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(bash scripts/require-pkg.sh --cflags xenstore:libxen-dev xenstat:libxen-dev libparted:libparted-dev ext2fs:libext2fs-dev blkid:libblkid-dev)"
      ],
      "libraries": [
        "<!@(bash scripts/require-pkg.sh --libs ext2fs:libext2fs-dev com_err:comerr-dev blkid:libblkid-dev)",
        "-ldl"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["native/xenstore.cc"] }]
      ]
    }
  ]
}
