/* netpulse-data report (stub, replaced below). */
#include "datatool/datatool.h"
int np_dt_report(int argc, char **argv) { return NP_DT_USAGE; }
