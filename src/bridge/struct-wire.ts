/**
 * The wire tags of google.protobuf.Struct, Value and ListValue, and the wire
 * types they use: shared by the bridge's codec and the archive's transcoder,
 * which both read and write Structs without the generated code.
 *
 * google.protobuf.Struct    { map<string, Value> fields = 1; }   (entry: string key = 1; Value value = 2)
 * google.protobuf.Value     { NullValue null_value = 1; double number_value = 2; string string_value = 3;
 *                             bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6; }
 * google.protobuf.ListValue { repeated Value values = 1; }
 */
export const WIRE_VARINT = 0;
export const WIRE_BIT64 = 1;
export const WIRE_LEN = 2;

export const FIELDS_ENTRY = (1 << 3) | WIRE_LEN;
export const ENTRY_KEY = (1 << 3) | WIRE_LEN;
export const ENTRY_VALUE = (2 << 3) | WIRE_LEN;
export const NULL_VALUE = (1 << 3) | WIRE_VARINT;
export const NUMBER_VALUE = (2 << 3) | WIRE_BIT64;
export const STRING_VALUE = (3 << 3) | WIRE_LEN;
export const BOOL_VALUE = (4 << 3) | WIRE_VARINT;
export const STRUCT_VALUE = (5 << 3) | WIRE_LEN;
export const LIST_VALUE = (6 << 3) | WIRE_LEN;
export const LIST_ITEM = (1 << 3) | WIRE_LEN;
