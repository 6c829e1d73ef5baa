"""Annotated CSV as InfluxDB 2.x writes it -> parts, including the traps in the format."""
import pytest

from connector.errors import DataError, ServerUnavailable
from connector.sources.annotated_csv import block_field_kinds, parse_block, probe_tables, split_blocks
from connector.sources.base import TIME_COLUMN

PIVOTED = (
    "#datatype,string,long,dateTime:RFC3339,string,double,string\r\n"
    "#group,false,false,false,true,false,false\r\n"
    "#default,_result,,,,,\r\n"
    ",result,table,_time,unit,temp,note\r\n"
    ",,0,2024-01-01T00:00:30Z,u1,1,\"a,b\"\r\n"
    ",,0,2024-01-01T00:00:30.000000789Z,u1,,\"two\r\n\r\n#datatype,lines\"\r\n"
    "\r\n"
    "#datatype,string,long,dateTime:RFC3339,string,string,long\r\n"
    "#group,false,false,false,true,true,false\r\n"
    "#default,_result,,,,,\r\n"
    ",result,table,_time,site,unit,count\r\n"
    ",,1,2024-01-01T00:00:10Z,s1,u2,7\r\n"
)


def test_blocks_split_at_blank_lines_but_not_inside_quoted_values():
    blocks = split_blocks(PIVOTED.encode())
    assert len(blocks) == 2
    assert blocks[1].startswith(b"#datatype,string,long,dateTime:RFC3339,string,string,long")


@pytest.mark.parametrize("hashes", [3, 200])  # few '#' in the data, and more than the '#'-only search takes
def test_blocks_split_the_same_whatever_the_data_rows_hold(hashes):
    block = PIVOTED.split("\r\n\r\n#datatype,string,long,dateTime:RFC3339,string,string,long")[0]
    rows = "".join(f",,0,2024-01-01T00:01:{i % 60:02d}Z,u#{i},{i},#x\r\n" for i in range(hashes))
    second = PIVOTED[PIVOTED.index("\r\n\r\n#datatype,string,long,dateTime:RFC3339,string,string,long") + 4:]
    blocks = split_blocks((block + rows + "\r\n" + second).encode())
    assert len(blocks) == 2
    assert blocks[0].endswith(b",#x\r\n\r\n") and blocks[1] == second.encode()


def test_a_block_becomes_tags_fields_and_rows_with_the_servers_text():
    first, second = (parse_block(b) for b in split_blocks(PIVOTED.encode()))
    assert first.tags == ("unit",) and first.fields == {"temp": "float", "note": "string"}
    assert first.table.column(TIME_COLUMN).cast("int64").to_pylist() == [1704067230000000000, 1704067230000000789]
    assert first.table.column("temp").to_pylist() == ["1", None]
    # Go's csv.Writer (UseCRLF) writes a line break inside a value as CRLF; it means LF.
    assert first.table.column("note").to_pylist() == ["a,b", "two\n\n#datatype,lines"]
    assert second.tags == ("site", "unit") and second.fields == {"count": "int"}


def test_field_kinds_from_first_points():
    body = ("#datatype,string,long,string,double\r\n#group,false,false,true,false\r\n#default,_result,,,\r\n"
            ",result,table,_field,_value\r\n,,0,temp,1.5\r\n\r\n"
            "#datatype,string,long,string,long\r\n#group,false,false,true,false\r\n#default,_result,,,\r\n"
            ",result,table,_field,_value\r\n,,1,rpm,900\r\n").encode()
    assert [block_field_kinds(b) for b in split_blocks(body)] == [[("temp", "float")], [("rpm", "int")]]


def test_empty_answers_have_no_blocks():
    assert split_blocks(b"\r\n") == []
    assert split_blocks(b"") == []


def test_not_annotated_csv_is_an_error():
    with pytest.raises(DataError, match="not annotated CSV"):
        split_blocks(b"<html>proxy error</html>\n")


def test_an_error_table_after_data_fails_the_query():
    body = (PIVOTED + "\r\n#datatype,string,string\r\n#group,true,true\r\n#default,,\r\n"
            ",error,reference\r\n,\"query exceeded memory limit, aborted\",\r\n").encode()
    blocks = split_blocks(body)
    with pytest.raises(ServerUnavailable) as caught:
        for block in blocks:
            parse_block(block)
    assert str(caught.value) == ("the query failed while the server was answering: "
                                 "query exceeded memory limit, aborted")


def test_values_like_NA_or_null_stay_strings():
    body = ("#datatype,string,long,dateTime:RFC3339,string\r\n#group,false,false,false,false\r\n"
            "#default,_result,,,\r\n,result,table,_time,s\r\n,,0,2024-01-01T00:00:00Z,NA\r\n"
            ",,0,2024-01-01T00:00:01Z,null\r\n,,0,2024-01-01T00:00:02Z,\"\"\r\n").encode()
    part = parse_block(split_blocks(body)[0])
    assert part.table.column("s").to_pylist() == ["NA", "null", ""]


def test_probe_tables_type_every_column():
    body = ("#datatype,string,long,string\r\n#group,false,false,false\r\n#default,_result,,\r\n"
            ",result,table,_value\r\n,,0,temp\r\n,,0,rpm\r\n").encode()
    (table,) = probe_tables(body)
    assert table.column("_value").to_pylist() == ["temp", "rpm"]
